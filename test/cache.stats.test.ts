import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserView } from '../src/modules/cache/identity-cache.js';
import {
  type Actor,
  countStatements,
  makeWorld,
  ok,
  signInSystemAdmin,
  type TenantWorld,
} from './support/fixtures.js';
import { errorCode, startTestServer, useTestServer } from './support/server.js';

/**
 * cacheStats (system ADMINs only) with Redis, the second cache level serving a cold instance,
 * and a read racing a write never putting the old row back.
 */

const STATS = '{ cacheStats { hits misses hitRate keys usedMemoryBytes } }';
type Stats = { hits: number; misses: number; hitRate: number; keys: number; usedMemoryBytes: number };

const server = useTestServer();
let system: Actor;
let world: TenantWorld;
let redis: Redis;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  world = await makeWorld(server, system);
  redis = new Redis(server.config.redis.url ?? '');
});
afterAll(async () => {
  redis?.disconnect();
});

const stats = async (on = server): Promise<Stats> =>
  ok(await on.gql(STATS, {}, { token: system.token })).cacheStats;

async function scanCount(prefix: string): Promise<number> {
  let cursor = '0';
  let count = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  return count;
}

describe('cacheStats', () => {
  it('is for system ADMINs only', async () => {
    for (const actor of [world.admin, world.as.MODERATOR, world.as.USER]) {
      expect(errorCode(await server.gql(STATS, {}, { token: actor.token }))).toBe('FORBIDDEN');
    }
    expect((await server.gql(STATS)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('counts hits and misses: repeated requests of a signed-in user are served from the cache', async () => {
    const before = await stats();
    for (let i = 0; i < 50; i++)
      ok(await server.gql('{ me { id role tenant { name } } }', {}, { token: world.as.USER.token }));
    const after = await stats();
    const hits = after.hits - before.hits;
    const misses = after.misses - before.misses;
    const rate = hits / (hits + misses);
    console.info(
      `cache hit rate over 50 me requests: ${(rate * 100).toFixed(1)}% (${hits} hits, ${misses} misses)`,
    );
    expect(rate).toBeGreaterThan(0.95);
    expect(after.hitRate).toBeCloseTo(after.hits / (after.hits + after.misses), 10);
  });

  it("reports the keys under this deployment's prefix (SCAN) and Redis' used memory", async () => {
    const reported = await stats();
    expect(reported.keys).toBeGreaterThan(0);
    expect(reported.keys).toBe(await scanCount(server.config.redis.keyPrefix));
    const info = await redis.info('memory');
    const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
    expect(reported.usedMemoryBytes).toBeGreaterThan(0);
    expect(Math.abs(reported.usedMemoryBytes - used) / used).toBeLessThan(0.2);
  });
});

describe('the shared level', () => {
  it('serves a freshly started instance from Redis: its first request reads nothing from PostgreSQL', async () => {
    ok(
      await server.gql('{ me { id displayName tenant { name } } }', {}, { token: world.as.MODERATOR.token }),
    );
    const cold = await startTestServer({}, { database: server.testDatabase });
    try {
      const before = await stats(cold);
      const statements = await countStatements(cold, async () => {
        ok(
          await cold.gql(
            '{ me { id displayName tenant { name } } }',
            {},
            { token: world.as.MODERATOR.token },
          ),
        );
      });
      expect(statements).toBe(0);
      expect((await stats(cold)).hits).toBeGreaterThan(before.hits);
    } finally {
      await cold.close();
    }
  });

  it('never puts back a row that a write invalidated while it was being read', async () => {
    const other = await startTestServer({}, { database: server.testDatabase });
    try {
      const target = world.as.GUEST;
      const { cache } = other.app.services;
      await server.app.services.cache.invalidate({ tenantId: world.id, users: [target.userId] });
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reading!: () => void;
      const readingDatabase = new Promise<void>((resolve) => {
        reading = resolve;
      });
      const stale = { id: target.userId, tenantId: world.id, displayName: 'stale' } as unknown as UserView;
      // `other` reads the row (the old version) while `server` commits a change and invalidates.
      const racing = cache.users.getMany(world.id, [target.userId], async () => {
        reading();
        await released;
        return new Map([[target.userId, stale]]);
      });
      await readingDatabase; // past both cache levels, into "PostgreSQL"
      await server.app.services.cache.invalidate({ tenantId: world.id, users: [target.userId] });
      release();
      expect((await racing).get(target.userId)?.displayName).toBe('stale'); // that read began before the write
      // Commands on one connection run in order: once this answers, the racing write-back has run.
      await cache.shared?.redis.ping();
      for (const instance of [other, server]) {
        let loaded = false;
        await instance.app.services.cache.users.getMany(world.id, [target.userId], async () => {
          loaded = true;
          return new Map();
        });
        expect(loaded, 'the next read must go to PostgreSQL').toBe(true);
      }
    } finally {
      await other.close();
    }
  });
});
