import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { LOGIN } from './support/fixtures.js';
import { SYSTEM_ADMIN, startTestServer, useTestServer } from './support/server.js';

/** GET /metrics: Prometheus text, fed by the services and the Apollo plugin, behind METRICS_TOKEN. */

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';

const server = useTestServer({ METRICS_TOKEN });

async function scrape(token: string | null = METRICS_TOKEN): Promise<Response> {
  return fetch(`${server.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** The value of one sample, e.g. sample(text, 'identity_logins_total', { outcome: 'succeeded' }). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function metrics(): Promise<string> {
  const response = await scrape();
  expect(response.status).toBe(200);
  return response.text();
}

// The client's own sign-in operation (src/client/operations/sign-in.graphql): labelled by name.
const SIGN_IN = LOGIN.replace('mutation Login(', 'mutation SignIn(');
const login = (password: string) =>
  server.gql(SIGN_IN, { input: { tenant: 'system', email: SYSTEM_ADMIN.email, password } });

describe('GET /metrics', () => {
  it('answers 401 without the token or with a wrong one, and Prometheus text with it', async () => {
    for (const token of [null, 'not-the-token', `${METRICS_TOKEN}x`]) {
      const refused = await scrape(token);
      expect(refused.status, String(token)).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await refused.text()).not.toContain('identity_');
    }
    const response = await scrape();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    // Node's default metrics, on this app's own registry.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeDefined();
  });

  it('counts sign-ins by outcome and times password hashing', async () => {
    const before = await metrics();
    const succeeded = sample(before, 'identity_logins_total', { outcome: 'succeeded' }) ?? Number.NaN;
    const failed = sample(before, 'identity_logins_total', { outcome: 'failed' }) ?? Number.NaN;
    const verifies = sample(before, 'identity_password_hash_duration_seconds_count', { op: 'verify' }) ?? 0;

    expect((await login(SYSTEM_ADMIN.password)).errors).toBeUndefined();
    expect((await login('not the password at all')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const after = await metrics();
    expect(sample(after, 'identity_logins_total', { outcome: 'succeeded' })).toBe(succeeded + 1);
    expect(sample(after, 'identity_logins_total', { outcome: 'failed' })).toBe(failed + 1);
    expect(sample(after, 'identity_password_hash_duration_seconds_count', { op: 'verify' })).toBe(
      verifies + 2,
    );
    expect(
      sample(after, 'identity_graphql_request_duration_seconds_count', {
        operation: 'SignIn',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(after, 'identity_graphql_request_duration_seconds_count', {
        operation: 'SignIn',
        outcome: 'UNAUTHENTICATED',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts GraphQL errors by code, including a bad token refused before GraphQL runs', async () => {
    const before =
      sample(await metrics(), 'identity_graphql_errors_total', { code: 'UNAUTHENTICATED' }) ?? Number.NaN;
    const anonymous = await server.gql('query Me { me { id } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(sample(await metrics(), 'identity_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBe(
      before + 1,
    );

    const badToken = await server.gql('query Me { me { id } }', {}, { token: 'not.a.token' });
    expect(badToken.status).toBe(401);
    const after = await metrics();
    expect(sample(after, 'identity_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBe(before + 2);
    expect(
      sample(after, 'identity_graphql_request_duration_seconds_count', {
        operation: 'Me',
        outcome: 'UNAUTHENTICATED',
      }),
    ).toBe(1);
  });

  it('counts refresh-token reuse', async () => {
    const signedIn = await login(SYSTEM_ADMIN.password);
    const refreshToken = signedIn.data?.login.refreshToken as string;
    const refresh = (token: string) =>
      server.gql('mutation ($input: RefreshInput!) { refresh(input: $input) { refreshToken } }', {
        input: { refreshToken: token },
      });
    const before = sample(await metrics(), 'identity_refresh_token_reuse_total') ?? Number.NaN;
    expect((await refresh(refreshToken)).errors).toBeUndefined();
    // Past the reuse grace: the second use is reuse.
    server.clock.advance(10_001);
    expect((await refresh(refreshToken)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(sample(await metrics(), 'identity_refresh_token_reuse_total')).toBe(before + 1);
  });

  it('reports the database pool, Redis and WebSocket connections', async () => {
    const text = await metrics();
    expect(sample(text, 'identity_db_pool_max')).toBe(10);
    expect(sample(text, 'identity_db_pool_in_use')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'identity_db_pool_waiting')).toBe(0);
    expect(sample(text, 'identity_redis_up')).toBe(1);
    expect(sample(text, 'identity_websocket_connections')).toBe(0);
  });

  it('counts queries and transactions in flight on the pool while they run', async () => {
    const { database } = server.app.services;
    // Drizzle's query builders are lazy: awaiting (here: Promise.resolve) sends them.
    const slow = Promise.resolve(database.db.execute(sql`select pg_sleep(0.3)`));
    const slowTransaction = database.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_sleep(0.3)`);
      await tx.execute(sql`select 1`);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const during = database.poolStats();
    // Background jobs may hold a connection too; these two certainly do.
    expect(during.inUse).toBeGreaterThanOrEqual(2);
    await Promise.all([slow, slowTransaction]);
    expect(database.poolStats().inUse).toBeLessThanOrEqual(during.inUse - 2);
  });
});

describe('GET /metrics without METRICS_TOKEN', () => {
  it('is open, and each app instance counts into its own registry', async () => {
    const other = await startTestServer();
    try {
      const response = await fetch(`${other.url}/metrics`);
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(sample(text, 'identity_logins_total', { outcome: 'succeeded' })).toBe(0);
    } finally {
      await other.close();
    }
  });
});
