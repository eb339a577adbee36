import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  makeTenant,
  ok,
  PASSWORD,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import {
  basicAuth,
  makeServiceAccount,
  postForm,
  type ServiceAccountHandle,
  startOAuthServer,
} from './support/oauth.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * Two instances of one deployment behind one address (same database, same Redis, same
 * PUBLIC_URL): a token issued by either works on both, and a change made through one instance
 * ends a service's access on the other at its very next request, even while the other holds the
 * account's credentials in its own memory.
 */

let a: TestServer;
let b: TestServer;
let system: Actor;
let tenant: TenantHandle;
let introspector: ServiceAccountHandle;

beforeAll(async () => {
  a = await startOAuthServer();
  b = await startTestServer({ PUBLIC_URL: a.url }, { database: a.testDatabase });
  for (let i = 0; i < 100 && ![a, b].every((s) => s.app.services.cache.localCaching); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect([a, b].map((s) => s.app.services.cache.localCaching)).toEqual([true, true]);
  system = await signInSystemAdmin(a);
  tenant = await makeTenant(a, system);
  introspector = await makeServiceAccount(a, tenant.admin, ['tokens:introspect']);
}, 60_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const USERS = '{ users(first: 1) { totalCount } }';

async function grant(on: TestServer, account: Pick<ServiceAccountHandle, 'clientId' | 'clientSecret'>) {
  return postForm(
    on,
    '/oauth/token',
    { grant_type: 'client_credentials' },
    { authorization: basicAuth(account.clientId, account.clientSecret) },
  );
}

async function tokenOf(on: TestServer, account: ServiceAccountHandle): Promise<string> {
  const answer = await grant(on, account);
  expect(answer.status).toBe(200);
  return answer.body?.access_token as string;
}

async function active(on: TestServer, token: string): Promise<boolean> {
  const answer = await postForm(
    on,
    '/oauth/introspect',
    { token },
    { authorization: basicAuth(introspector.clientId, introspector.clientSecret) },
  );
  expect(answer.status).toBe(200);
  return answer.body?.active === true;
}

/** The token works on this instance (and it now holds the account in memory). */
async function works(on: TestServer, token: string): Promise<boolean> {
  const answer = await on.gql(USERS, {}, { token });
  if (answer.status === 401) {
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    return false;
  }
  expect(answer.errors).toBeUndefined();
  return true;
}

/** Both instances take the token and introspect it active; B serves it from memory. */
async function liveEverywhere(token: string): Promise<void> {
  expect([await works(a, token), await works(b, token)]).toEqual([true, true]);
  expect([await active(a, token), await active(b, token)]).toEqual([true, true]);
}

async function refusedEverywhere(token: string): Promise<void> {
  // B first: its memory held the credentials until the change through A.
  expect([await works(b, token), await works(a, token)]).toEqual([false, false]);
  expect([await active(b, token), await active(a, token)]).toEqual([false, false]);
}

async function apiKeyOf(on: TestServer, account: ServiceAccountHandle) {
  return ok(
    await on.gql(
      'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id } } }',
      { input: { serviceAccountId: account.id, name: 'sync' } },
      { token: tenant.admin.token },
    ),
  ).createApiKey as { key: string; apiKey: { id: string } };
}

describe('one issuer for the deployment', () => {
  it('a token issued by either instance works on both', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const fromA = await tokenOf(a, account);
    const fromB = await tokenOf(b, account);
    for (const token of [fromA, fromB]) await liveEverywhere(token);
    const metadata = [a, b].map(async (s) => {
      const response = await fetch(`${s.url}/.well-known/oauth-authorization-server`);
      return ((await response.json()) as { issuer: string }).issuer;
    });
    expect(await Promise.all(metadata)).toEqual([a.url, a.url]);
  });
});

describe('a change through one instance ends access on the other at the next request', () => {
  const UPDATE =
    'mutation ($id: ID!, $input: UpdateServiceAccountInput!) { updateServiceAccount(id: $id, input: $input) { id } }';

  it('disabling the account: its token and API key', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const token = await tokenOf(b, account);
    const { key } = await apiKeyOf(a, account);
    await liveEverywhere(token);
    await liveEverywhere(key);
    ok(await a.gql(UPDATE, { id: account.id, input: { status: 'DISABLED' } }, { token: tenant.admin.token }));
    await refusedEverywhere(token);
    await refusedEverywhere(key);
    expect((await grant(b, account)).status).toBe(401);
  });

  it('deleting the account (through B): its token and API key on A', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const token = await tokenOf(a, account);
    const { key } = await apiKeyOf(a, account);
    await liveEverywhere(token);
    await liveEverywhere(key);
    ok(
      await b.gql(
        'mutation ($id: ID!) { deleteServiceAccount(id: $id) }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    );
    // A held the credentials in memory; it must refuse them now.
    expect([await works(a, token), await works(a, key)]).toEqual([false, false]);
    await refusedEverywhere(token);
    await refusedEverywhere(key);
    expect((await grant(a, account)).status).toBe(401);
  });

  it('revoking an API key', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const created = await apiKeyOf(a, account);
    const kept = await apiKeyOf(a, account);
    await liveEverywhere(created.key);
    await liveEverywhere(kept.key);
    ok(
      await a.gql(
        'mutation ($id: ID!) { revokeApiKey(id: $id) }',
        { id: created.apiKey.id },
        { token: tenant.admin.token },
      ),
    );
    await refusedEverywhere(created.key);
    await liveEverywhere(kept.key);
  });

  it('rotating the secret without grace: the old secret and its tokens', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const token = await tokenOf(b, account);
    await liveEverywhere(token);
    const rotated = ok(
      await a.gql(
        'mutation ($id: ID!) { rotateServiceAccountSecret(id: $id) { clientSecret } }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    ).rotateServiceAccountSecret.clientSecret as string;
    await refusedEverywhere(token);
    expect((await grant(b, account)).status).toBe(401);
    const renewed = await tokenOf(b, { ...account, clientSecret: rotated });
    await liveEverywhere(renewed);
  });

  it('rotating with grace keeps the old secret on both until the grace ends', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const token = await tokenOf(a, account);
    await liveEverywhere(token);
    ok(
      await b.gql(
        'mutation ($id: ID!) { rotateServiceAccountSecret(id: $id, input: { graceSeconds: 120 }) { clientSecret } }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    );
    await liveEverywhere(token);
    expect([(await grant(a, account)).status, (await grant(b, account)).status]).toEqual([200, 200]);
  });

  it('a service revoking its own access token (RFC 7009) on one instance', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read']);
    const token = await tokenOf(a, account);
    await liveEverywhere(token);
    const revoked = await postForm(
      a,
      '/oauth/revoke',
      { token, token_type_hint: 'access_token' },
      { authorization: basicAuth(account.clientId, account.clientSecret) },
    );
    expect(revoked.status).toBe(200);
    await refusedEverywhere(token);
  });

  it("a person's session ended through one instance: introspection on the other says inactive", async () => {
    const login = ok(
      await a.gql('mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }', {
        input: { tenant: tenant.slug, email: tenant.admin.email, password: PASSWORD },
      }),
    ).login as { accessToken: string; refreshToken: string };
    expect([await active(a, login.accessToken), await active(b, login.accessToken)]).toEqual([true, true]);
    expect(await active(b, login.refreshToken)).toBe(true);
    ok(await a.gql('mutation { logout }', {}, { token: login.accessToken }));
    expect([await active(b, login.accessToken), await active(b, login.refreshToken)]).toEqual([false, false]);
    expect((await b.gql('{ me { id } }', {}, { token: login.accessToken })).status).toBe(401);
  });

  it('taking a scope away: the other instance refuses the fields at once', async () => {
    const account = await makeServiceAccount(a, tenant.admin, ['users:read', 'audit:read']);
    const token = await tokenOf(a, account);
    const AUDIT = '{ auditEvents(first: 1) { totalCount } }';
    expect((await b.gql(AUDIT, {}, { token })).errors).toBeUndefined();
    ok(
      await a.gql(
        UPDATE,
        { id: account.id, input: { scopes: ['users:read'] } },
        { token: tenant.admin.token },
      ),
    );
    expect((await b.gql(AUDIT, {}, { token })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await works(b, token)).toBe(true);
  });
});
