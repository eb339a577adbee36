import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/modules/realtime/topics.js';
import { databaseUrl, TEST_DATABASE_URL, TEST_REDIS_URL } from './support/env.js';
import { freePort, runServerProcess, type ServerProcess, waitFor } from './support/process.js';
import { eventually, openSocket, type Socket } from './support/ws.js';

/**
 * Three server processes (the built dist/bundle/main.js) on loopback ports, sharing one PostgreSQL
 * database and one Redis key prefix: whatever one instance does, the others behave accordingly.
 */

const ADMIN = { email: 'root@instances.test', password: 'correct horse battery staple 42' };
const PASSWORD = 'Instances test passphrase 9!';
const BUDGET = 6;
const name = `identity_test_db_${Date.now()}_${process.pid}_inst${randomBytes(2).toString('hex')}`;
const prefix = `test:${name}:`;
const servers: (ServerProcess & { port: number | undefined })[] = [];
const sockets: Socket[] = [];
let redis: Redis;
let ip = 0;

beforeAll(async () => {
  // An empty database: the three instances migrate and bootstrap it themselves, all at once.
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`).finally(() => admin.end({ timeout: 5 }));
  redis = new Redis(TEST_REDIS_URL);
  for (let i = 0; i < 3; i++) {
    servers.push(
      runServerProcess({
        PORT: String(await freePort()),
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        DATABASE_URL: databaseUrl(name),
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        BCRYPT_COST: '4',
        RATE_LIMIT_AUTH_PER_MINUTE: String(BUDGET),
        TRUST_PROXY: 'true',
        BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
        BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
        // One deployment behind one address: each instance accepts the others' tokens.
        PUBLIC_URL: 'http://identity.instances.test',
      }),
    );
  }
  await Promise.all(servers.map((s) => waitFor(`${s.url}/ready`, 200, 30_000)));
}, 60_000);
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await Promise.all(servers.map((s) => s.stop()));
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin
    .unsafe(`drop database if exists "${name}" with (force)`)
    .finally(() => admin.end({ timeout: 5 }));
});

const at = (n: 1 | 2 | 3) => servers[n - 1]?.url as string;

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
type Answer = { status: number; data?: any; errors?: { message: string; extensions?: { code?: string } }[] };

/** A GraphQL request to one instance, from a client address of its own unless one is given. */
async function gql(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  from?: string,
): Promise<Answer> {
  ip += 1;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': from ?? `198.51.${Math.floor(ip / 250)}.${ip % 250}`,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

async function ok(answer: Promise<Awaited<ReturnType<typeof gql>>>) {
  const { data, errors } = await answer;
  expect(errors, JSON.stringify(errors)).toBeUndefined();
  return data;
}

const LOGIN =
  'mutation ($input: LoginInput!) { login(input: $input) { accessToken session { id } user { id tenant { id } } } }';
async function signIn(url: string, tenant: string, email: string, password = PASSWORD) {
  const { login } = await ok(gql(url, LOGIN, { input: { tenant, email, password } }));
  return {
    token: login.accessToken as string,
    sessionId: login.session.id as string,
    userId: login.user.id as string,
    tenantId: login.user.tenant.id as string,
  };
}

let tenant: { id: string; slug: string; admin: Awaited<ReturnType<typeof signIn>> };
async function newUser(role = 'USER', via: 1 | 2 | 3 = 1) {
  const email = `${randomBytes(4).toString('hex')}@instances.test`;
  const { createUser } = await ok(
    gql(
      at(via),
      'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
      { input: { email, password: PASSWORD, role } },
      tenant.admin.token,
    ),
  );
  return { id: createUser.id as string, email };
}

describe('three instances sharing PostgreSQL and Redis', () => {
  it('started together on an empty database: migrated once, bootstrapped once', async () => {
    const sql = postgres(databaseUrl(name), { max: 1, onnotice: () => {} });
    try {
      const journal = JSON.parse(
        readFileSync(new URL('../drizzle/meta/_journal.json', import.meta.url), 'utf8'),
      );
      const [migrations] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(migrations?.n).toBe(journal.entries.length);
      const admins =
        await sql`select u.email from users u join tenants t on t.id = u.tenant_id where t.slug = 'system' and u.role = 'ADMIN'`;
      expect(admins.map((a) => a.email)).toEqual([ADMIN.email]);
    } finally {
      await sql.end({ timeout: 5 });
    }
    const system = await signIn(at(1), 'system', ADMIN.email, ADMIN.password);
    const slug = `inst-${randomBytes(3).toString('hex')}`;
    await ok(
      gql(
        at(2),
        'mutation ($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }',
        {
          input: {
            slug,
            name: slug,
            adminEmail: `admin@${slug}.test`,
            adminPassword: PASSWORD,
            settings: { maxFailedLogins: 3 },
          },
        },
        system.token,
      ),
    );
    const admin = await signIn(at(3), slug, `admin@${slug}.test`);
    tenant = { id: admin.tenantId, slug, admin };
  });

  it('instance 1 revokes a session: its subscriber on instance 3 hears at once, instance 2 refuses the token', async () => {
    const user = await newUser();
    const keeper = await signIn(at(2), tenant.slug, user.email);
    const revoked = await signIn(at(2), tenant.slug, user.email);
    for (const n of [2, 3] as const) await ok(gql(at(n), '{ me { id } }', {}, revoked.token)); // cached there
    const listener = openSocket(at(3), keeper.token);
    const victim = openSocket(at(3), revoked.token);
    sockets.push(listener, victim);
    await Promise.all([listener.connected, victim.connected]);
    const ended = listener.subscribe<{ sessionEnded: { sessionId: string; reason: string } }>(
      'subscription { sessionEnded { sessionId reason } }',
    );
    const channel = `${prefix}events:${topics.sessionEnded(tenant.id, user.id)}`;
    await eventually(
      async () => Number((await redis.pubsub('NUMSUB', channel))[1]) >= 1,
      3_000,
      'the subscription',
    );

    const sent = Date.now();
    expect(
      (
        await ok(
          gql(
            at(1),
            'mutation ($id: ID!) { revokeSession(id: $id) }',
            { id: revoked.sessionId },
            keeper.token,
          ),
        )
      ).revokeSession,
    ).toBe(true);
    const answered = Date.now();
    expect((await gql(at(2), '{ me { id } }', {}, revoked.token)).status).toBe(401);
    expect((await ended.next()).sessionEnded).toEqual({ sessionId: revoked.sessionId, reason: 'REVOKED' });
    expect(await victim.closedWithin(1_000)).toEqual({ code: 4403, reason: 'Session ended' });
    const arrived = ended.receivedAt[0] as number;
    console.info(
      `sessionEnded across instances: ${arrived - sent} ms after the revoke was sent (its answer came after ${answered - sent} ms)`,
    );
    expect(arrived - sent).toBeLessThan(1_000);
  });

  it("a role change through instance 1 holds at once for instance 2's me, and reaches a follower on instance 3", async () => {
    const user = await newUser('USER');
    const them = await signIn(at(2), tenant.slug, user.email);
    expect((await ok(gql(at(2), '{ me { role } }', {}, them.token))).me.role).toBe('USER');
    const follower = openSocket(at(3), tenant.admin.token);
    sockets.push(follower);
    await follower.connected;
    const changes = follower.subscribe<{ userChanged: { role: string } }>(
      'subscription ($id: ID) { userChanged(id: $id) { role } }',
      { id: user.id },
    );
    const channel = `${prefix}events:${topics.userChanged(tenant.id, user.id)}`;
    await eventually(
      async () => Number((await redis.pubsub('NUMSUB', channel))[1]) >= 1,
      3_000,
      'the subscription',
    );

    await ok(
      gql(
        at(1),
        'mutation ($id: ID!) { updateUser(id: $id, input: { role: MODERATOR }) { id } }',
        { id: user.id },
        tenant.admin.token,
      ),
    );
    expect((await ok(gql(at(2), '{ me { role } }', {}, them.token))).me.role).toBe('MODERATOR');
    expect(
      (await ok(gql(at(3), '{ users { totalCount } }', {}, them.token))).users.totalCount,
    ).toBeGreaterThan(1);
    expect((await changes.next()).userChanged.role).toBe('MODERATOR');
  });

  it('shares the per-IP sign-in budget and the account lockout', async () => {
    const from = '203.0.113.77';
    for (let i = 0; i < BUDGET; i++) {
      const answer = await gql(
        at(((i % 3) + 1) as 1 | 2 | 3),
        LOGIN,
        { input: { tenant: tenant.slug, email: 'nobody@instances.test', password: 'wrong password 1' } },
        undefined,
        from,
      );
      expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    for (const n of [1, 2, 3] as const) {
      const refused = await gql(
        at(n),
        LOGIN,
        { input: { tenant: tenant.slug, email: 'nobody@instances.test', password: 'x' } },
        undefined,
        from,
      );
      expect(refused.status).toBe(429);
    }

    const target = await newUser();
    for (const n of [1, 2, 3] as const) {
      await gql(at(n), LOGIN, {
        input: { tenant: tenant.slug, email: target.email, password: 'not the password 7' },
      });
    }
    const locked = await gql(at(1), LOGIN, {
      input: { tenant: tenant.slug, email: target.email, password: PASSWORD },
    });
    expect(locked.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const seen = await ok(
      gql(at(2), 'query ($id: ID!) { user(id: $id) { lockedUntil } }', { id: target.id }, tenant.admin.token),
    );
    expect(seen.user.lockedUntil).not.toBeNull();
  });

  it("delivers instance 2's audit events to an ADMIN's feed on instance 1", async () => {
    const feed = openSocket(at(1), tenant.admin.token);
    sockets.push(feed);
    await feed.connected;
    const events = feed.subscribe<{ auditEventAdded: { action: string; targetId: string } }>(
      'subscription { auditEventAdded { action targetId } }',
    );
    const channel = `${prefix}events:${topics.auditEventAdded(tenant.id)}`;
    await eventually(async () => Number((await redis.pubsub('NUMSUB', channel))[1]) >= 1, 3_000, 'the feed');
    const created = await newUser('USER', 2);
    expect((await events.next()).auditEventAdded).toEqual({ action: 'user.created', targetId: created.id });
  });
});
