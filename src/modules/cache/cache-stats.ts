import type { Logger } from '../../kernel/logger.js';
import { redisNodes } from '../../kernel/redis.js';
import type { IdentityCache } from './identity-cache.js';

export interface CacheStatsValue {
  hits: number;
  misses: number;
  hitRate: number;
  keys: number;
  usedMemoryBytes: number;
}

/**
 * Hits and misses are this instance's lookups since it started. With Redis, `keys` counts every
 * key under REDIS_KEY_PREFIX (SCAN, never KEYS, on every Cluster master) and `usedMemoryBytes`
 * is Redis' used_memory (summed over masters). Without Redis, or while it does not answer,
 * `keys` counts this process's cache entries and `usedMemoryBytes` is 0.
 */
export async function readCacheStats(
  cache: IdentityCache,
  keyPrefix: string,
  logger: Logger,
): Promise<CacheStatsValue> {
  const { hits, misses } = cache.counters;
  const hitRate = hits + misses === 0 ? 0 : hits / (hits + misses);
  const local = { hits, misses, hitRate, keys: cache.localEntries, usedMemoryBytes: 0 };
  const shared = cache.shared;
  if (!shared?.available) return local;
  try {
    let keys = 0;
    let usedMemoryBytes = 0;
    const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    for (const node of redisNodes(shared.redis)) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
        cursor = next;
        keys += batch.length;
      } while (cursor !== '0');
      const memory = /^used_memory:(\d+)/m.exec(await node.info('memory'));
      usedMemoryBytes += Number(memory?.[1] ?? 0);
    }
    return { hits, misses, hitRate, keys, usedMemoryBytes };
  } catch (error) {
    logger.warn({ err: { message: (error as Error).message } }, 'could not read Redis cache statistics');
    return local;
  }
}
