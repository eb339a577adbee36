import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import { connectRedis, type RedisClient, RedisHealth } from '../kernel/redis.js';
import { IdentityCache } from '../modules/cache/identity-cache.js';
import {
  type InvalidationBus,
  LocalInvalidationBus,
  RedisInvalidationBus,
} from '../modules/cache/invalidation-bus.js';
import { SharedLayer } from '../modules/cache/layered-cache.js';
import { EventBus } from '../modules/realtime/event-bus.js';

/**
 * What the instances of one deployment share through Redis — the second cache level, cache
 * invalidations, subscription events — or, without Redis, their in-process stand-ins.
 */
export interface SharedState {
  redis: RedisClient | undefined;
  health: RedisHealth | undefined;
  cache: IdentityCache;
  events: EventBus;
  close(): Promise<void>;
}

/**
 * Waits (at most `timeoutMs`) until Redis answers and both subscriber connections are live, so a
 * new instance serves its first requests with the shared cache and accepts WebSockets at once.
 * It starts anyway when Redis does not come: everything then reads through to PostgreSQL.
 */
export async function sharedStateReady(state: SharedState, timeoutMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const ready = () =>
    state.health === undefined ||
    (state.health.available && state.cache.localCaching && state.events.available);
  while (!ready() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return ready();
}

export function openSharedState(config: Config, db: Db, clock: Clock, logger: Logger): SharedState {
  if (config.redis.mode === 'none') {
    const bus = new LocalInvalidationBus();
    const events = EventBus.inProcess(logger);
    return {
      redis: undefined,
      health: undefined,
      cache: new IdentityCache(db, clock, bus, undefined),
      events,
      close: () => events.close(),
    };
  }
  const redis = connectRedis(config.redis, logger);
  const health = new RedisHealth(redis);
  let bus: InvalidationBus | undefined;
  let events: EventBus | undefined;
  try {
    bus = new RedisInvalidationBus(redis, health, config.redis, logger);
    events = EventBus.overRedis(redis, health, config.redis, logger);
    const cache = new IdentityCache(db, clock, bus, new SharedLayer(redis, health));
    const opened = events;
    return {
      redis,
      health,
      cache,
      events: opened,
      close: async () => {
        await opened.close();
        bus?.close();
        health.close();
        redis.disconnect();
      },
    };
  } catch (error) {
    bus?.close();
    void events?.close();
    health.close();
    redis.disconnect();
    throw error;
  }
}
