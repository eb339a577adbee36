import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema.js';
import { attemptLogin, createTenant, registerUser, type SignedIn, unique } from './support/fixtures.js';
import { changes, parseSamples, scrape } from './support/metrics.js';
import { errorCode, startTestServer, useTestServer } from './support/server.js';

/**
 * /metrics as an attacker meets it: closed in production unless the scraper brings
 * METRICS_TOKEN, and, where it is open, unable to tell why a sign-in failed or to be filled with
 * operation names an anonymous client made up.
 */

const TOKEN = 'a-metrics-token-for-these-tests-42';

describe('GET /metrics in production', () => {
  it('answers 401 to everyone when no METRICS_TOKEN is configured', async () => {
    const server = await startTestServer({ NODE_ENV: 'production' });
    try {
      for (const token of [undefined, 'anything-at-all-0123456789', '']) {
        const response = await scrape(server, token);
        expect(response.status, String(token)).toBe(401);
        const body = await response.text();
        expect(body).not.toContain('identity_');
        expect(body).toContain('METRICS_TOKEN');
      }
    } finally {
      await server.close();
    }
  });

  it('serves Prometheus text only with the configured Bearer token', async () => {
    const server = await startTestServer({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN });
    try {
      expect((await scrape(server)).status).toBe(401);
      expect((await scrape(server, `${TOKEN}-`)).status).toBe(401);
      const response = await scrape(server, TOKEN);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('identity_logins_total');
    } finally {
      await server.close();
    }
  });
});

describe('open /metrics (outside production, no token)', () => {
  const server = useTestServer();
  let tenant: string;
  let active: SignedIn;
  let locked: SignedIn;
  let suspended: SignedIn;

  beforeAll(async () => {
    tenant = (await createTenant(server, { settings: { maxFailedLogins: 3, lockoutMinutes: 30 } })).slug;
    active = await registerUser(server, tenant);
    locked = await registerUser(server, tenant);
    suspended = await registerUser(server, tenant);
    for (let i = 0; i < 3; i++) await attemptLogin(server, tenant, locked.email, `wrong ${i} password!`);
    await server.testDatabase.database.db
      .update(users)
      .set({ status: 'SUSPENDED' })
      .where(eq(users.id, suspended.userId));
  });

  // Everything a sign-in moves that an anonymous scraper could compare.
  const signInSeries = (series: string) =>
    /^identity_(logins_total|graphql_errors_total|password_hash_duration_seconds_count|graphql_request_duration_seconds_count)\b/.test(
      series,
    );

  async function failureFootprint(email: string, password: string): Promise<Record<string, number>> {
    const before = parseSamples(await (await scrape(server)).text());
    const response = await attemptLogin(server, tenant, email, password);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    const after = parseSamples(await (await scrape(server)).text());
    return changes(before, after, signInSeries);
  }

  it('shows the same change for every kind of failed sign-in', async () => {
    const wrongPassword = await failureFootprint(active.email, 'not the right password 1');
    const unknownEmail = await failureFootprint(`${unique('nobody')}@example.test`, 'whatever password 1');
    const lockedAccount = await failureFootprint(locked.email, locked.password);
    const suspendedAccount = await failureFootprint(suspended.email, suspended.password);
    expect(wrongPassword).toHaveProperty(['identity_logins_total{outcome="failed"}'], 1);
    expect(unknownEmail).toEqual(wrongPassword);
    expect(lockedAccount).toEqual(wrongPassword);
    expect(suspendedAccount).toEqual(wrongPassword);
    const text = await (await scrape(server)).text();
    for (const reason of ['unknown_user', 'bad_password', 'locked', 'suspended']) {
      expect(text).not.toContain(reason);
    }
  });

  it('labels no operation names an anonymous client made up, however many it sends', async () => {
    const invented = Array.from({ length: 250 }, (_, i) => `Invented${i}${unique('x')}`);
    for (const name of invented) {
      const response = await server.gql(`query ${name} { __typename }`);
      expect(response.errors).toBeUndefined();
    }
    // The client's own operations keep their label when anonymous...
    await server.gql('query Me { me { id } }');
    // ...and a signed-in caller's own operation still gets one.
    const own = await server.gql('query MyDashboard { me { id } }', {}, { token: active.accessToken });
    expect(own.errors).toBeUndefined();
    const text = await (await scrape(server)).text();
    for (const name of invented) expect(text).not.toContain(name);
    expect(text).toMatch(
      /identity_graphql_request_duration_seconds_count\{operation="\(other\)",outcome="ok"\} 2\d\d/,
    );
    expect(text).toContain('operation="Me"');
    expect(text).toContain('operation="MyDashboard"');
  });
});
