import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../src/db/schema.js';
import {
  attemptLogin,
  createTenant,
  LOGIN,
  REFRESH,
  REGISTER,
  registerUser,
  type SignedIn,
  strongPassword,
  unique,
} from './support/fixtures.js';
import { errorCode, type GraphQLResponse, startTestServer, type TestServer } from './support/server.js';
import { openSocket } from './support/ws.js';

/**
 * The per-IP budget of register, login and refresh (RATE_LIMIT_AUTH_PER_MINUTE), over real HTTP
 * with the Redis store. Every test spends the budget of client addresses of its own: the
 * TRUST_PROXY server takes them from X-Forwarded-For.
 */

const BUDGET = 3;
let proxied: TestServer;
let direct: TestServer;
let tenantSlug: string;
let user: SignedIn;

let lastOctet = 0;
/** A client address nobody has used yet (TEST-NET-3). */
function freshIp(): string {
  lastOctet += 1;
  return `203.0.113.${lastOctet}`;
}
const from = (ip: string) => ({ 'x-forwarded-for': ip });
const WRONG = 'definitely not the password 1';

beforeAll(async () => {
  [proxied, direct] = await Promise.all([
    startTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: String(BUDGET), TRUST_PROXY: 'true' }),
    startTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: String(BUDGET) }),
  ]);
  tenantSlug = (await createTenant(proxied)).slug;
  user = await registerUser(proxied, tenantSlug, { headers: from(freshIp()) });
});
afterAll(async () => {
  await Promise.all([proxied?.close(), direct?.close()]);
});

function expectRateLimited(response: GraphQLResponse<unknown>) {
  expect(response.status).toBe(429);
  expect(response.errors?.map((e) => e.extensions?.code)).toEqual(response.errors?.map(() => 'RATE_LIMITED'));
  const retryAfter = response.errors?.[0]?.extensions?.retryAfterSeconds;
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers.get('retry-after')).toBe(String(retryAfter));
}

async function failedLogins(server: TestServer, userId: string): Promise<number> {
  const rows = await server.testDatabase.database.db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(and(eq(auditEvents.action, 'auth.login.failed'), eq(auditEvents.targetId, userId)));
  return rows.length;
}

async function sessionCount(server: TestServer, userId: string): Promise<number> {
  const rows = await server.testDatabase.database.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(eq(sessions.userId, userId));
  return rows.length;
}

describe('the per-IP budget', () => {
  it('evaluates RATE_LIMIT_AUTH_PER_MINUTE attempts, then refuses even the right password with 429 and Retry-After', async () => {
    const ip = freshIp();
    const before = await failedLogins(proxied, user.userId);
    for (let i = 0; i < BUDGET; i++) {
      const answer = await attemptLogin(proxied, tenantSlug, user.email, WRONG, from(ip));
      expect(answer.status).toBe(200);
      expect(errorCode(answer)).toBe('UNAUTHENTICATED');
    }
    const sessionsBefore = await sessionCount(proxied, user.userId);
    const refused = await attemptLogin(proxied, tenantSlug, user.email, user.password, {
      ...from(ip),
      origin: 'https://app.example.test',
    });
    expectRateLimited(refused);
    // A browser app on another origin is allowed to read Retry-After.
    expect(refused.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('retry-after');
    expect(refused.data ?? null).toBeNull();
    // The refused attempt never reached the password check: no failure recorded, no session.
    expect(await failedLogins(proxied, user.userId)).toBe(before + BUDGET);
    expect(await sessionCount(proxied, user.userId)).toBe(sessionsBefore);
    // Another client is not affected.
    const other = await attemptLogin(proxied, tenantSlug, user.email, user.password, from(freshIp()));
    expect(other.data?.login.user.id).toBe(user.userId);
  });

  it('is shared by register, login and refresh', async () => {
    const ip = freshIp();
    const registered = await proxied.gql(
      REGISTER,
      { input: { tenant: tenantSlug, email: `${unique('rl')}@example.test`, password: strongPassword() } },
      { headers: from(ip) },
    );
    expect(registered.errors).toBeUndefined();
    const refreshed = await proxied.gql(
      REFRESH,
      { input: { refreshToken: registered.data?.register.refreshToken } },
      { headers: from(ip) },
    );
    expect(refreshed.errors).toBeUndefined();
    const signedIn = await attemptLogin(proxied, tenantSlug, user.email, user.password, from(ip));
    expect(signedIn.errors).toBeUndefined();

    expectRateLimited(
      await proxied.gql(
        REFRESH,
        { input: { refreshToken: refreshed.data?.refresh.refreshToken } },
        { headers: from(ip) },
      ),
    );
    expectRateLimited(await attemptLogin(proxied, tenantSlug, user.email, user.password, from(ip)));
    expectRateLimited(
      await proxied.gql(
        REGISTER,
        { input: { tenant: tenantSlug, email: `${unique('rl')}@example.test`, password: strongPassword() } },
        { headers: from(ip) },
      ),
    );
    // Only the auth mutations are limited: the same client still reads public data.
    const info = await proxied.gql(
      'query ($slug: String!) { tenantInfo(slug: $slug) { slug } }',
      { slug: tenantSlug },
      { headers: from(ip) },
    );
    expect(info.status).toBe(200);
    expect(info.data?.tenantInfo.slug).toBe(tenantSlug);
  });
});

describe('without REDIS_URL', () => {
  it('keeps the same budget in memory', async () => {
    const alone = await startTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: String(BUDGET), REDIS_URL: '' });
    try {
      const tenant = await createTenant(alone);
      for (let i = 0; i < BUDGET; i++) {
        expect(errorCode(await attemptLogin(alone, tenant.slug, 'nobody@example.test', WRONG))).toBe(
          'UNAUTHENTICATED',
        );
      }
      expectRateLimited(await attemptLogin(alone, tenant.slug, 'nobody@example.test', WRONG));
    } finally {
      await alone.close();
    }
  });
});

describe('X-Forwarded-For', () => {
  it('changes nothing without TRUST_PROXY: a client cannot buy a fresh budget with a spoofed header', async () => {
    const tenant = await createTenant(direct);
    for (let i = 0; i < BUDGET; i++) {
      const answer = await attemptLogin(direct, tenant.slug, 'nobody@example.test', WRONG, from(freshIp()));
      expect(errorCode(answer)).toBe('UNAUTHENTICATED');
    }
    expectRateLimited(await attemptLogin(direct, tenant.slug, 'nobody@example.test', WRONG, from(freshIp())));
    expectRateLimited(await attemptLogin(direct, tenant.slug, 'nobody@example.test', WRONG));
    // The audit trail recorded the socket's address, not the claimed ones.
    const recorded = await direct.testDatabase.database.db
      .select({ ip: auditEvents.ipAddress })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, tenant.id), eq(auditEvents.action, 'auth.login.failed')));
    expect(recorded.map((r) => r.ip)).toEqual(Array(BUDGET).fill('127.0.0.1'));
  });

  it('gives each forwarded client its own budget behind a trusted proxy, and records its address', async () => {
    const [first, second] = [freshIp(), freshIp()];
    for (let i = 0; i < BUDGET; i++) {
      expect(errorCode(await attemptLogin(proxied, tenantSlug, user.email, WRONG, from(first)))).toBe(
        'UNAUTHENTICATED',
      );
    }
    expectRateLimited(await attemptLogin(proxied, tenantSlug, user.email, WRONG, from(first)));
    // A proxy chain: the client is the left-most address the trusted proxies forwarded.
    const answer = await attemptLogin(
      proxied,
      tenantSlug,
      user.email,
      user.password,
      from(`${second}, 10.0.0.2`),
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.login.session.ipAddress).toBe(second);
  });

  it('takes the client address of a WebSocket operation as of an HTTP request', async () => {
    const client = freshIp();
    const login = 'mutation ($input: LoginInput!) { login(input: $input) { session { ipAddress } } }';
    // Behind the trusted proxy, the forwarded client; without TRUST_PROXY, the socket's address
    // (a server of its own: this file's spends its budget for 127.0.0.1 above).
    const plain = await startTestServer();
    for (const [server, expected] of [
      [proxied, client],
      [plain, '127.0.0.1'],
    ] as const) {
      const account = await registerUser(server, (await createTenant(server)).slug);
      const socket = openSocket(server.url, account.accessToken, from(client));
      try {
        await socket.connected;
        const { tenant, email, password } = account;
        const answer = socket.subscribe<{ login: { session: { ipAddress: string } } }>(login, {
          input: { tenant, email, password },
        });
        expect((await answer.next()).login.session.ipAddress).toBe(expected);
      } finally {
        await socket.dispose();
      }
    }
    await plain.close();
  });
});

describe('several auth mutations in one operation', () => {
  const aliased = (aliases: string[], password: string) =>
    `mutation Many($tenant: String!, $email: String!) { ${aliases
      .map(
        (a) =>
          `${a}: login(input: { tenant: $tenant, email: $email, password: "${password}" }) { accessToken }`,
      )
      .join(' ')} }`;

  it('counts every aliased login as an attempt: 5 with a budget of 3 are 3 evaluated and 2 RATE_LIMITED, HTTP 200', async () => {
    const ip = freshIp();
    const before = await failedLogins(proxied, user.userId);
    const answer = await proxied.gql(
      aliased(['a', 'b', 'c', 'd', 'e'], WRONG),
      { tenant: tenantSlug, email: user.email },
      { headers: from(ip) },
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get('retry-after')).toBeNull();
    expect(answer.errors?.map((e) => [e.path?.[0], e.extensions?.code])).toEqual([
      ['a', 'UNAUTHENTICATED'],
      ['b', 'UNAUTHENTICATED'],
      ['c', 'UNAUTHENTICATED'],
      ['d', 'RATE_LIMITED'],
      ['e', 'RATE_LIMITED'],
    ]);
    expect(answer.data ?? null).toBeNull();
    expect(await failedLogins(proxied, user.userId)).toBe(before + 3);

    // Now every field of the next operation is over budget: the operation is refused as a whole.
    const refused = await proxied.gql(
      aliased(['x', 'y'], WRONG),
      { tenant: tenantSlug, email: user.email },
      { headers: from(ip) },
    );
    expectRateLimited(refused);
    expect(refused.errors).toHaveLength(2);
    expect(await failedLogins(proxied, user.userId)).toBe(before + 3);
  });

  it('counts the same login repeated under aliases, successful ones included', async () => {
    const ip = freshIp();
    const before = await sessionCount(proxied, user.userId);
    const answer = await proxied.gql(
      aliased(['one', 'two', 'three', 'four'], user.password),
      { tenant: tenantSlug, email: user.email },
      { headers: from(ip) },
    );
    expect(answer.status).toBe(200);
    expect(answer.errors?.map((e) => [e.path?.[0], e.extensions?.code])).toEqual([['four', 'RATE_LIMITED']]);
    expect(await sessionCount(proxied, user.userId)).toBe(before + 3);
    expectRateLimited(
      await proxied.gql(
        LOGIN,
        { input: { tenant: tenantSlug, email: user.email, password: user.password } },
        { headers: from(ip) },
      ),
    );
  });
});
