import { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';

/**
 * The shared Redis connection, or none when REDIS_URL is unset. Commands fail fast while Redis
 * is away (no offline queue), so a Redis outage degrades features instead of hanging requests;
 * ioredis keeps reconnecting in the background.
 */
export function connectRedis(url: string, keyPrefix: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down)
      logger.warn({ err: { message: error.message } }, 'redis connection error; retrying in the background');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis connection restored');
    down = false;
  });
  return redis;
}

/** PING with a deadline; resolves to an error message, or null when Redis answered. */
export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<string | null> {
  if (redis.status !== 'ready') return `redis is ${redis.status}`;
  try {
    await withTimeout(redis.ping(), timeoutMs);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
