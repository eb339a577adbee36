import { Ctx, Query, Resolver } from 'type-graphql';
import { requireSystemAdmin } from '../../kernel/caller.js';
import type { SignedInContext } from '../../kernel/context.js';
import { CacheStats } from './cache.types.js';
import { readCacheStats } from './cache-stats.js';

@Resolver()
export class CacheResolver {
  @Query(() => CacheStats, { description: 'System ADMINs only.' })
  cacheStats(@Ctx() ctx: SignedInContext): Promise<CacheStats> {
    requireSystemAdmin(ctx.caller);
    const { cache, config, logger } = ctx.services;
    return readCacheStats(cache, config.redis.keyPrefix, logger);
  }
}
