import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/logger.js';
import type { RedisClient } from '../../kernel/redis.js';

export interface AuthRateLimiter {
  /** Spends one attempt of `ip`'s budget; throws RATE_LIMITED when it is used up. */
  consume(ip: string | null): Promise<void>;
}

/**
 * The per-IP budget shared by register, login and refresh. With Redis every instance draws on
 * one budget; when Redis is away the same limits hold per process (rate-limiter-flexible's
 * insurance limiter), so an outage never means unlimited password guesses.
 */
export function createAuthRateLimiter(options: {
  pointsPerMinute: number;
  redis?: RedisClient;
  logger: Logger;
}): AuthRateLimiter {
  const base = { points: options.pointsPerMinute, duration: 60, keyPrefix: 'rl:auth' };
  const memory = new RateLimiterMemory(base);
  const { redis, logger } = options;
  const limiter = redis
    ? new RateLimiterRedis({
        ...base,
        storeClient: redis,
        rejectIfRedisNotReady: true,
        insuranceLimiter: memory,
      })
    : memory;
  let warned = false;
  redis?.on('ready', () => {
    warned = false;
  });

  return {
    async consume(ip) {
      if (redis && redis.status !== 'ready' && !warned) {
        warned = true;
        logger.warn('Redis is unreachable: per-IP rate limits count in this process until it is back');
      }
      try {
        await limiter.consume(ip ?? 'unknown');
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) throw new RateLimitedError(rejection.msBeforeNext / 1000);
        throw rejection;
      }
    },
  };
}
