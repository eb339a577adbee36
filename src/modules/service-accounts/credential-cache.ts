import type { Db } from '../../db/client.js';
import type { Clock } from '../../kernel/clock.js';
import { isUuid } from '../../kernel/ids.js';
import type { IdentityCache } from '../cache/identity-cache.js';
import type { Invalidation } from '../cache/invalidation-bus.js';
import { LayeredCache } from '../cache/layered-cache.js';
import {
  findApiKeyByHash,
  findServiceAccount,
  revokedTokensOf,
  secretsOf,
} from './service-accounts.queries.js';

/**
 * What authenticating a service needs of its account, read on every grant and every request of
 * a service: in process memory, then Redis, then PostgreSQL, like session checks (and dropped on
 * every instance after each change, before the change is answered). Secret hashes are HMACs of
 * 256-bit random values with a pepper Redis never sees: holding them reveals no secret.
 */
export interface AccountCredentials {
  tenantId: string;
  serviceAccountId: string;
  status: 'ACTIVE' | 'DISABLED';
  scopes: string[];
  /** Live secrets: hash (base64) and end of grace (ms), null for none. */
  secrets: { id: string; hash: string; expiresAt: number | null }[];
  /** Access tokens revoked before their expiry (RFC 7009), with that expiry (ms). */
  revokedTokens: { jti: string; expiresAt: number }[];
}

export interface ApiKeyState {
  id: string;
  serviceAccountId: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

const TTLS = { l1Ms: 60_000, l2Ms: 10 * 60_000 };

export class CredentialCache {
  readonly accounts: LayeredCache<AccountCredentials>;
  readonly apiKeys: LayeredCache<ApiKeyState>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly identity: IdentityCache,
  ) {
    const common = {
      clock,
      bus: identity.bus,
      shared: identity.shared,
      counters: identity.counters,
      l1TtlMs: TTLS.l1Ms,
      l2TtlMs: () => TTLS.l2Ms,
    };
    this.accounts = new LayeredCache({
      ...common,
      entity: 'serviceAccount',
      maxEntries: 20_000,
      codec: { encode: (v) => v, decode: (json) => json as AccountCredentials },
    });
    this.apiKeys = new LayeredCache({
      ...common,
      entity: 'apiKey',
      maxEntries: 50_000,
      codec: { encode: (v) => v, decode: (json) => json as ApiKeyState },
    });
  }

  peekAccount(tenantId: string, serviceAccountId: string): AccountCredentials | undefined {
    return this.accounts.peek(tenantId, serviceAccountId);
  }

  async account(tenantId: string, serviceAccountId: string): Promise<AccountCredentials | undefined> {
    if (!isUuid(tenantId) || !isUuid(serviceAccountId)) return undefined;
    const found = await this.accounts.getMany(tenantId, [serviceAccountId], async () => {
      const now = this.clock.now();
      const row = await findServiceAccount(this.db, tenantId, serviceAccountId);
      if (!row) return new Map();
      const [secrets, revoked] = await Promise.all([
        secretsOf(this.db, tenantId, [serviceAccountId], now),
        revokedTokensOf(this.db, tenantId, serviceAccountId, now),
      ]);
      return new Map([
        [
          serviceAccountId,
          {
            tenantId,
            serviceAccountId,
            status: row.status,
            scopes: row.scopes,
            secrets: secrets.map((s) => ({
              id: s.id,
              hash: s.secretHash.toString('base64'),
              expiresAt: s.expiresAt?.getTime() ?? null,
            })),
            revokedTokens: revoked.map((r) => ({ jti: r.jti, expiresAt: r.expiresAt.getTime() })),
          },
        ],
      ]);
    });
    return found.get(serviceAccountId);
  }

  peekApiKey(tenantId: string, keyHash: Buffer): ApiKeyState | undefined {
    return this.apiKeys.peek(tenantId, keyHash.toString('base64url'));
  }

  async apiKey(tenantId: string, keyHash: Buffer): Promise<ApiKeyState | undefined> {
    const id = keyHash.toString('base64url');
    const found = await this.apiKeys.getMany(tenantId, [id], async () => {
      const row = await findApiKeyByHash(this.db, tenantId, keyHash);
      if (!row) return new Map();
      return new Map([
        [
          id,
          {
            id: row.id,
            serviceAccountId: row.serviceAccountId,
            createdAt: row.createdAt.getTime(),
            expiresAt: row.expiresAt?.getTime() ?? null,
            revokedAt: row.revokedAt?.getTime() ?? null,
          },
        ],
      ]);
    });
    return found.get(id);
  }

  /**
   * After a committed change to an account (or its secrets, keys, revoked tokens): forgets it in
   * Redis and on every instance, and resolves when they all have. Await it before answering.
   */
  async invalidate(
    tenantId: string,
    serviceAccountId: string,
    apiKeyHashes: readonly Buffer[] = [],
  ): Promise<void> {
    const keyIds = apiKeyHashes.map((hash) => hash.toString('base64url'));
    const changes: Invalidation[] = [
      { kind: 'keys', entity: 'serviceAccount', tenantId, ids: [serviceAccountId] },
    ];
    const drops = [this.accounts.dropShared(tenantId, [serviceAccountId])];
    if (keyIds.length > 0) {
      changes.push({ kind: 'keys', entity: 'apiKey', tenantId, ids: keyIds });
      drops.push(this.apiKeys.dropShared(tenantId, keyIds));
    }
    await Promise.all(drops);
    await this.identity.bus.publish(changes);
  }
}
