import { Field, Float, Int, ObjectType } from 'type-graphql';
import type { CacheStatsValue } from './cache-stats.js';

@ObjectType('CacheStats', {
  description:
    "The identity cache (users, tenants and session checks): this instance's lookups, and Redis' size.",
})
export class CacheStats implements CacheStatsValue {
  @Field(() => Float, {
    description: 'Lookups answered from memory or Redis, by this instance since it started.',
  })
  hits!: number;

  @Field(() => Float, {
    description: 'Lookups that had to read PostgreSQL, by this instance since it started.',
  })
  misses!: number;

  @Field(() => Float, { description: 'hits / (hits + misses); 0 before the first lookup.' })
  hitRate!: number;

  @Field(() => Int, {
    description:
      "Keys under REDIS_KEY_PREFIX in Redis (counted with SCAN). Without Redis (or while it is unreachable): this process's cache entries.",
  })
  keys!: number;

  @Field(() => Float, {
    description: "Redis' used_memory in bytes (INFO memory). 0 without Redis or while it is unreachable.",
  })
  usedMemoryBytes!: number;
}
