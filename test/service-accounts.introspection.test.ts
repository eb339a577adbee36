import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  makeTenant,
  makeUser,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  UPDATE_USER,
} from './support/fixtures.js';
import { basicAuth, makeServiceAccount, postForm, useOAuthServer } from './support/oauth.js';

/**
 * POST /oauth/introspect answers what the API would do with a token at that moment: each case
 * below asks the API itself (a GraphQL request with the token) and the introspection endpoint,
 * and both must agree, for people's access and refresh tokens and services' tokens and keys.
 */

const server = useOAuthServer({ ACCESS_TOKEN_TTL_SECONDS: '300' });
let system: Actor;
let tenant: TenantHandle;
let introspector: { clientId: string; clientSecret: string };

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
  introspector = await makeServiceAccount(server, tenant.admin, ['tokens:introspect']);
}, 60_000);

async function introspect(token: string, hint?: string): Promise<Record<string, unknown>> {
  const answer = await postForm(
    server,
    '/oauth/introspect',
    { token, ...(hint ? { token_type_hint: hint } : {}) },
    { authorization: basicAuth(introspector.clientId, introspector.clientSecret) },
  );
  expect(answer.status).toBe(200);
  expect(answer.headers.get('cache-control')).toBe('no-store');
  return answer.body as Record<string, unknown>;
}

/** Whether the API takes the token now (viewer answers for people and services alike). */
async function apiAccepts(token: string): Promise<boolean> {
  const answer = await server.gql('{ viewer { tenant { id } } }', {}, { token });
  if (answer.status === 401) return false;
  expect(answer.errors).toBeUndefined();
  return true;
}

/** The API and introspection agree on the token, and say `expected`. */
async function expectBoth(token: string, expected: boolean): Promise<Record<string, unknown>> {
  const answer = await introspect(token);
  expect({ api: await apiAccepts(token), introspection: answer.active }).toEqual({
    api: expected,
    introspection: expected,
  });
  if (!expected) expect(answer).toEqual({ active: false });
  return answer;
}

async function freshUser(): Promise<{ id: string; email: string; actor: Actor }> {
  const user = await makeUser(server, tenant.admin, { role: 'USER' });
  return { id: user.id, email: user.email, actor: await signIn(server, tenant.slug, user.email) };
}

/** Moves the server's clock; the fixtures' ADMINs sign in again (their tokens expired too). */
async function advance(ms: number): Promise<void> {
  server.clock.advance(ms);
  system = await signInSystemAdmin(server);
  tenant = { ...tenant, admin: await signIn(server, tenant.slug, tenant.admin.email) };
}

const REFRESH = 'mutation ($input: RefreshInput!) { refresh(input: $input) { accessToken refreshToken } }';

describe("a person's access token", () => {
  it('is active with the role the API acts with now', async () => {
    const { id, actor } = await freshUser();
    const answer = await expectBoth(actor.token, true);
    expect(answer).toMatchObject({
      active: true,
      token_type: 'Bearer',
      sub: id,
      tid: tenant.id,
      sid: actor.sessionId,
      role: 'USER',
      iss: server.url,
    });
    ok(await server.gql(UPDATE_USER, { id, input: { role: 'MODERATOR' } }, { token: tenant.admin.token }));
    expect((await expectBoth(actor.token, true)).role).toBe('MODERATOR');
  });

  it('is inactive once its user is suspended (which ends their sessions), also after reinstating', async () => {
    const { id, actor } = await freshUser();
    await expectBoth(actor.token, true);
    ok(await server.gql(UPDATE_USER, { id, input: { status: 'SUSPENDED' } }, { token: tenant.admin.token }));
    await expectBoth(actor.token, false);
    ok(await server.gql(UPDATE_USER, { id, input: { status: 'ACTIVE' } }, { token: tenant.admin.token }));
    await expectBoth(actor.token, false);
  });

  it('is inactive once its session ended (logout, revokeSession)', async () => {
    const first = await freshUser();
    ok(await server.gql('mutation { logout }', {}, { token: first.actor.token }));
    await expectBoth(first.actor.token, false);
    const second = await freshUser();
    ok(
      await server.gql(
        'mutation ($id: ID!) { revokeSession(id: $id) }',
        { id: second.actor.sessionId },
        { token: tenant.admin.token },
      ),
    );
    await expectBoth(second.actor.token, false);
  });

  it('is inactive once it expired', async () => {
    const { actor } = await freshUser();
    await expectBoth(actor.token, true);
    await advance(301_000 + 60_000);
    await expectBoth(actor.token, false);
  });

  it('is inactive while its tenant is suspended', async () => {
    const other = await makeTenant(server, system);
    const reach = await makeServiceAccount(server, system, ['tokens:introspect']);
    const asSystem = async (token: string) =>
      (
        await postForm(
          server,
          '/oauth/introspect',
          { token },
          { authorization: basicAuth(reach.clientId, reach.clientSecret) },
        )
      ).body?.active;
    expect(await asSystem(other.admin.token)).toBe(true);
    // A tenant's introspector does not see another tenant's tokens at all.
    expect(await introspect(other.admin.token)).toEqual({ active: false });
    const UPDATE_TENANT =
      'mutation ($id: ID!, $input: UpdateTenantInput!) { updateTenant(id: $id, input: $input) { id } }';
    ok(
      await server.gql(
        UPDATE_TENANT,
        { id: other.id, input: { status: 'SUSPENDED' } },
        { token: system.token },
      ),
    );
    expect(await apiAccepts(other.admin.token)).toBe(false);
    expect(await asSystem(other.admin.token)).toBe(false);
  });
});

describe("a person's refresh token", () => {
  it('is active while refresh would take it; the rotated-out token and an ended session are not', async () => {
    const { id, email } = await freshUser();
    const login = ok(
      await server.gql(
        'mutation ($input: LoginInput!) { login(input: $input) { refreshToken user { id } } }',
        { input: { tenant: tenant.slug, email, password: PASSWORD } },
      ),
    ).login;
    const live = await introspect(login.refreshToken, 'refresh_token');
    expect(live).toMatchObject({ active: true, sub: id, tid: tenant.id, role: 'USER', iss: server.url });
    expect(typeof live.sid).toBe('string');
    expect(live.exp as number).toBeGreaterThan(Math.floor(server.clock.now().getTime() / 1000));
    // Looking does not spend it: refresh still takes it, and then only its successor is active.
    const rotated = ok(await server.gql(REFRESH, { input: { refreshToken: login.refreshToken } })).refresh;
    await advance(60_000); // past the reuse grace
    expect(await introspect(login.refreshToken)).toEqual({ active: false });
    expect((await introspect(rotated.refreshToken)).active).toBe(true);
    // Revoked through RFC 7009: inactive, and refresh refuses it too.
    expect((await postForm(server, '/oauth/revoke', { token: rotated.refreshToken })).status).toBe(200);
    expect(await introspect(rotated.refreshToken)).toEqual({ active: false });
    const refused = await server.gql(REFRESH, { input: { refreshToken: rotated.refreshToken } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('is inactive once its user is suspended, as refresh refuses it', async () => {
    const { id, email } = await freshUser();
    const login = ok(
      await server.gql('mutation ($input: LoginInput!) { login(input: $input) { refreshToken } }', {
        input: { tenant: tenant.slug, email, password: PASSWORD },
      }),
    ).login;
    expect((await introspect(login.refreshToken)).active).toBe(true);
    ok(await server.gql(UPDATE_USER, { id, input: { status: 'SUSPENDED' } }, { token: tenant.admin.token }));
    expect(await introspect(login.refreshToken)).toEqual({ active: false });
    const refused = await server.gql(REFRESH, { input: { refreshToken: login.refreshToken } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it("is inactive to another tenant's introspector, and garbage is inactive", async () => {
    const other = await makeTenant(server, system);
    const login = ok(
      await server.gql('mutation ($input: LoginInput!) { login(input: $input) { refreshToken } }', {
        input: { tenant: other.slug, email: other.admin.email, password: PASSWORD },
      }),
    ).login;
    expect(await introspect(login.refreshToken)).toEqual({ active: false });
    for (const garbage of ['', 'x', 'a.b', `${login.refreshToken}x`, 'idk_nope', 'a'.repeat(9000)]) {
      expect(await introspect(garbage)).toEqual({ active: false });
    }
  });
});

describe("a service's token and API key", () => {
  const UPDATE =
    'mutation ($id: ID!, $input: UpdateServiceAccountInput!) { updateServiceAccount(id: $id, input: $input) { id } }';

  it('are inactive while the account is disabled, and once they expired', async () => {
    const subject = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const grant = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(subject.clientId, subject.clientSecret) },
    );
    const token = grant.body?.access_token as string;
    const expiresAt = new Date(server.clock.now().getTime() + 3_600_000).toISOString();
    const key = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { serviceAccountId: subject.id, name: 'expiring', expiresAt } },
        { token: tenant.admin.token },
      ),
    ).createApiKey.key as string;
    expect(await expectBoth(token, true)).toMatchObject({
      sub: subject.id,
      client_id: subject.clientId,
      scope: 'users:read',
    });
    expect((await expectBoth(key, true)).exp).toBe(Math.floor(Date.parse(expiresAt) / 1000));

    ok(
      await server.gql(
        UPDATE,
        { id: subject.id, input: { status: 'DISABLED' } },
        { token: tenant.admin.token },
      ),
    );
    await expectBoth(token, false);
    await expectBoth(key, false);
    ok(
      await server.gql(
        UPDATE,
        { id: subject.id, input: { status: 'ACTIVE' } },
        { token: tenant.admin.token },
      ),
    );
    await expectBoth(token, true);
    await expectBoth(key, true);

    await advance(301_000 + 60_000);
    await expectBoth(token, false);
    await expectBoth(key, true);
    await advance(3_600_000);
    await expectBoth(key, false);
  });

  it('answer the scopes the account holds now', async () => {
    const subject = await makeServiceAccount(server, tenant.admin, ['users:read', 'audit:read']);
    const grant = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(subject.clientId, subject.clientSecret) },
    );
    const token = grant.body?.access_token as string;
    expect((await introspect(token)).scope).toBe('users:read audit:read');
    ok(
      await server.gql(
        UPDATE,
        { id: subject.id, input: { scopes: ['users:read'] } },
        { token: tenant.admin.token },
      ),
    );
    expect((await introspect(token)).scope).toBe('users:read');
    const audit = await server.gql('{ auditEvents(first: 1) { totalCount } }', {}, { token });
    expect(audit.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
