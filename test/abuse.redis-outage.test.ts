import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema.js';
import { attemptLogin, createTenant, registerUser, type SignedIn } from './support/fixtures.js';
import { type RedisProcess, startRedisProcess } from './support/redis-process.js';
import { errorCode, useTestServer } from './support/server.js';

/**
 * Redis stopped in the middle of a test (a redis-server of the test's own): per-IP limits go on
 * in this process, logged once, and per-account lockout goes on from PostgreSQL.
 */

const BUDGET = 4;
const WRONG = 'Wrong passphrase for sure 3';
let redis: RedisProcess;
let tenantSlug: string;
const logLines: Record<string, unknown>[] = [];

let lastOctet = 0;
const freshIp = () => {
  lastOctet += 1;
  return { 'x-forwarded-for': `198.51.100.${lastOctet}` };
};

beforeAll(async () => {
  redis = await startRedisProcess();
});
afterAll(async () => {
  await redis?.stop();
});
const server = useTestServer(
  () => ({
    REDIS_URL: redis.url,
    RATE_LIMIT_AUTH_PER_MINUTE: String(BUDGET),
    TRUST_PROXY: 'true',
    LOG_LEVEL: 'info',
  }),
  { logStream: { write: (line) => void logLines.push(JSON.parse(line)) } },
);
beforeAll(async () => {
  tenantSlug = (await createTenant(server, { settings: { maxFailedLogins: 3, lockoutMinutes: 15 } })).slug;
});

async function redisReadiness(): Promise<string> {
  const answer = await fetch(`${server.url}/ready`);
  return ((await answer.json()) as { checks: { redis: string } }).checks.redis;
}

async function until(what: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Spends one client's whole budget and checks the next attempt is refused. */
async function exhaustBudget(user: SignedIn) {
  const ip = freshIp();
  for (let i = 0; i < BUDGET; i++) {
    expect(errorCode(await attemptLogin(server, tenantSlug, 'nobody@example.test', WRONG, ip))).toBe(
      'UNAUTHENTICATED',
    );
  }
  const refused = await attemptLogin(server, tenantSlug, user.email, user.password, ip);
  expect(refused.status).toBe(429);
  expect(errorCode(refused)).toBe('RATE_LIMITED');
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
}

const fallbackWarnings = () =>
  logLines.filter(
    (line) => line.level === 'warn' && String(line.msg).includes('per-IP rate limits count in this process'),
  );

describe('with Redis stopped mid-test', () => {
  it('still enforces per-IP limits (logged once) and per-account lockout, and goes back to Redis', async () => {
    const alice = await registerUser(server, tenantSlug, { headers: freshIp() });
    const bob = await registerUser(server, tenantSlug, { headers: freshIp() });
    // Bob fails twice while Redis is up: his count lives in PostgreSQL, not in Redis.
    for (let i = 0; i < 2; i++) await attemptLogin(server, tenantSlug, bob.email, WRONG, freshIp());
    await exhaustBudget(alice);
    expect(fallbackWarnings()).toHaveLength(0);

    await redis.stop();
    await until(async () => (await redisReadiness()) === 'unavailable');

    // Per-IP limits: each client still gets exactly its budget, from the in-process limiter.
    await exhaustBudget(alice);
    await exhaustBudget(alice);
    expect(fallbackWarnings()).toHaveLength(1);

    // Lockout: Bob's third failure (across the outage) locks him; his right password is refused.
    expect(errorCode(await attemptLogin(server, tenantSlug, bob.email, WRONG, freshIp()))).toBe(
      'UNAUTHENTICATED',
    );
    const locked = await attemptLogin(server, tenantSlug, bob.email, bob.password, freshIp());
    expect(errorCode(locked)).toBe('UNAUTHENTICATED');
    const [row] = await server.testDatabase.database.db
      .select({ count: users.failedLoginCount, lockedUntil: users.lockedUntil })
      .from(users)
      .where(eq(users.id, bob.userId));
    expect(row?.count).toBe(3);
    expect(row?.lockedUntil?.getTime()).toBe(server.clock.now().getTime() + 15 * 60_000);
    // Sign-ins that pass both checks still work.
    expect(
      (await attemptLogin(server, tenantSlug, alice.email, alice.password, freshIp())).data?.login.user.id,
    ).toBe(alice.userId);

    await redis.start();
    await until(async () => (await redisReadiness()) === 'ok');
    await exhaustBudget(alice);
    // Back on Redis (restarted empty): the budget is kept there again, shared by every instance.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      expect((await client.keys('*rl:auth*')).length).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });
});
