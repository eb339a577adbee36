import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisClient } from '../../kernel/redis.js';

/**
 * The budget of one correctly authenticated OAuth client (RATE_LIMIT_CLIENT_PER_MINUTE), shared
 * by every instance through Redis, per process while Redis is away. It is the client's own: a
 * busy service never draws on the per-IP sign-in budget of the users behind the same address.
 */
export interface ClientRateLimiter {
  /** Seconds to wait when the budget is used up; undefined when the request may go ahead. */
  consume(clientId: string): Promise<number | undefined>;
}

export function createClientRateLimiter(options: {
  pointsPerMinute: number;
  redis?: RedisClient;
}): ClientRateLimiter {
  const base = { points: options.pointsPerMinute, duration: 60, keyPrefix: 'rl:client' };
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
    async consume(clientId) {
      try {
        await limiter.consume(clientId);
        return undefined;
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw rejection;
      }
    },
  };
}
