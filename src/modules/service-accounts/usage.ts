import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import { type WriteDeps, write } from '../../kernel/unit-of-work.js';
import { touchLastUsed } from './service-accounts.queries.js';

interface AccountUsage {
  tenantId: string;
  serviceAccountId: string;
  tokensIssued: number;
  secrets: Set<string>;
  apiKeys: Set<string>;
  requests: number;
}

/**
 * Tokens issued and credentials used, counted in memory and written once a minute per account:
 * one `service_account.tokens_issued` audit event (with the count and the minute it covers) and
 * the last-used times. A grant is then a signature and no write, as fast as the token check;
 * last-used times are exact to the minute. A crash loses at most the current minute's counts.
 */
export class UsageRecorder {
  #pending = new Map<string, AccountUsage>();
  #windowStart: Date;

  constructor(
    private readonly deps: WriteDeps,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.#windowStart = clock.now();
  }

  #entry(tenantId: string, serviceAccountId: string): AccountUsage {
    const key = `${tenantId}:${serviceAccountId}`;
    let entry = this.#pending.get(key);
    if (!entry) {
      entry = {
        tenantId,
        serviceAccountId,
        tokensIssued: 0,
        secrets: new Set(),
        apiKeys: new Set(),
        requests: 0,
      };
      this.#pending.set(key, entry);
    }
    return entry;
  }

  tokenIssued(tenantId: string, serviceAccountId: string, secretId: string): void {
    const entry = this.#entry(tenantId, serviceAccountId);
    entry.tokensIssued += 1;
    entry.secrets.add(secretId);
  }

  apiKeyUsed(tenantId: string, serviceAccountId: string, apiKeyId: string): void {
    const entry = this.#entry(tenantId, serviceAccountId);
    entry.apiKeys.add(apiKeyId);
    entry.requests += 1;
  }

  tokenUsed(tenantId: string, serviceAccountId: string): void {
    this.#entry(tenantId, serviceAccountId).requests += 1;
  }

  /** Writes what was counted since the last flush (each account in its own transaction). */
  async flush(): Promise<void> {
    const pending = this.#pending;
    const from = this.#windowStart;
    this.#pending = new Map();
    const at = this.clock.now();
    this.#windowStart = at;
    for (const usage of pending.values()) {
      try {
        await write(this.deps, async (w) => {
          await touchLastUsed(
            w.tx,
            usage.tenantId,
            { accounts: [usage.serviceAccountId], secrets: [...usage.secrets], apiKeys: [...usage.apiKeys] },
            at,
          );
          if (usage.tokensIssued > 0) {
            await w.audit(
              { ip: null, userAgent: null },
              {
                tenantId: usage.tenantId,
                actorId: usage.serviceAccountId,
                action: 'service_account.tokens_issued',
                targetType: 'service_account',
                targetId: usage.serviceAccountId,
                metadata: {
                  actorType: 'SERVICE',
                  count: usage.tokensIssued,
                  from: from.toISOString(),
                  to: at.toISOString(),
                },
                at,
              },
            );
          }
        });
      } catch (error) {
        // The account may be gone meanwhile (its rows with it); nothing else to record then.
        this.logger.warn(
          { err: error, serviceAccountId: usage.serviceAccountId },
          'could not record service usage',
        );
      }
    }
  }
}
