import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { freePort, postGraphQL, runServerProcess, waitFor } from './support/process.js';
import { type RedisProcess, startRedisProcess } from './support/redis-process.js';

describe('the server on PostgreSQL and Redis', () => {
  let database: TestDatabase;
  let redis: RedisProcess;
  beforeAll(async () => {
    database = await createTestDatabase({ poolMax: 1 });
    redis = await startRedisProcess();
  });
  afterAll(async () => {
    await redis?.stop();
    await database?.drop();
  });

  it('is ready with both, turns unready without crashing when Redis stops, and recovers', async () => {
    const server = runServerProcess({
      PORT: String(await freePort()),
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      BCRYPT_COST: '4',
    });
    try {
      await waitFor(`${server.url}/ready`, 200);
      const ready = await fetch(`${server.url}/ready`).then((r) => r.json());
      expect(ready).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });

      await redis.stop();
      await waitFor(`${server.url}/ready`, 503, 5_000);
      const unready = (await fetch(`${server.url}/ready`).then((r) => r.json())) as { checks: unknown };
      expect(unready.checks).toEqual({ database: 'ok', redis: 'unavailable' });
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect((await postGraphQL(server.url, '{ __typename }')).body.data).toEqual({ __typename: 'Query' });

      await redis.start();
      await waitFor(`${server.url}/ready`, 200, 10_000);
    } finally {
      const started = Date.now();
      expect(await server.stop('SIGTERM')).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
  }, 60_000);

  it('lets two instances start at once on a fresh database without racing', async () => {
    const fresh = await createTestDatabase({ poolMax: 1 });
    const env = { DATABASE_URL: fresh.url, BCRYPT_COST: '4' };
    const a = runServerProcess({ ...env, PORT: String(await freePort()) });
    const b = runServerProcess({ ...env, PORT: String(await freePort()) });
    try {
      await Promise.all([waitFor(`${a.url}/ready`), waitFor(`${b.url}/ready`)]);
      const sql = postgres(fresh.url, { max: 1 });
      try {
        const admins = await sql`select count(*)::int as n from users where role = 'ADMIN'`;
        const tenants = await sql`select count(*)::int as n from tenants`;
        const keys = await sql`select count(*)::int as n from signing_keys where retired_at is null`;
        expect([admins[0]?.n, tenants[0]?.n, keys[0]?.n]).toEqual([1, 1, 1]);
      } finally {
        await sql.end();
      }
      // Exactly one of them printed the generated password.
      expect([a.output(), b.output()].filter((out) => out.includes('generated password'))).toHaveLength(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await fresh.drop();
    }
  }, 60_000);
});
