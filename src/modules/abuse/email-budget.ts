import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../../kernel/logger.js';
import type { RedisClient } from '../../kernel/redis.js';

export type EmailBudgetKind = 'password-reset' | 'email-verification';

export interface EmailBudget {
  /**
   * Spends one email of this kind to this address; false when the address has had its share
   * this hour (the caller then sends nothing). Unknown addresses spend alike, so the budget
   * tells nothing about which accounts exist.
   */
  take(
    kind: EmailBudgetKind,
    tenantId: string,
    email: string,
  ): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
}

/**
 * The per-address budget that keeps anyone from mail-bombing a victim through the public
 * mutations: EMAIL_PER_ADDRESS_PER_HOUR emails of each kind to one address of one tenant. Shared
 * by every instance through Redis (per process while Redis is away). Keys hold a hash of the
 * address, never the address.
 */
export function createEmailBudget(options: {
  perHour: number;
  redis?: RedisClient;
  logger: Logger;
}): EmailBudget {
  const base = { points: options.perHour, duration: 3_600, keyPrefix: 'rl:email' };
  const memory = new RateLimiterMemory(base);
  const limiter = options.redis
    ? new RateLimiterRedis({
        ...base,
        storeClient: options.redis,
        rejectIfRedisNotReady: true,
        insuranceLimiter: memory,
      })
    : memory;
  return {
    async take(kind, tenantId, email) {
      const key = createHash('sha256')
        .update(`${kind}\n${tenantId}\n${email.trim().normalize('NFC').toLowerCase()}`)
        .digest('base64url');
      try {
        await limiter.consume(key);
        return { ok: true };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
        }
        options.logger.warn({ err: rejection }, 'email budget unavailable: counting in this process');
        return { ok: true };
      }
    },
  };
}
