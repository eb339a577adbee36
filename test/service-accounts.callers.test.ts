import { beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../src/modules/service-accounts/scopes.js';
import {
  type Actor,
  auditTrail,
  makeTenant,
  makeUser,
  ok,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import {
  basicAuth,
  makeServiceAccount,
  postForm,
  type ServiceAccountHandle,
  useOAuthServer,
} from './support/oauth.js';

/**
 * Deps calling the GraphQL API: every field is open to them only through its scope, in their
 * own tenant, with an access token from the client credentials grant or an API key.
 */

const server = useOAuthServer();
let system: Actor;
let tenant: TenantHandle;
let other: TenantHandle;
let member: { id: string; email: string };
let outsider: { id: string };

async function accessToken(account: ServiceAccountHandle): Promise<string> {
  const answer = await postForm(
    server,
    '/oauth/token',
    { grant_type: 'client_credentials' },
    {
      authorization: basicAuth(account.clientId, account.clientSecret),
    },
  );
  expect(answer.status).toBe(200);
  return answer.body?.access_token as string;
}

async function serviceToken(
  scopes: string[],
  admin: Actor = tenant.admin,
  tenantId?: string,
): Promise<string> {
  return accessToken(await makeServiceAccount(server, admin, scopes, { tenantId }));
}

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
  other = await makeTenant(server, system);
  member = await makeUser(server, tenant.admin, { role: 'USER' });
  outsider = await makeUser(server, other.admin, { role: 'USER' });
}, 60_000);

/** One operation per scope, with the scopes it needs; each is tried with every single scope. */
function probes(): { name: string; needs: string[]; run: (token: string) => Promise<string | undefined> }[] {
  const code = async (query: string, variables: Record<string, unknown>, token: string) => {
    const answer = await server.gql(query, variables, { token });
    return answer.errors?.[0]?.extensions?.code ?? 'OK';
  };
  return [
    {
      name: 'users',
      needs: ['users:read'],
      run: (t) => code('{ users(first: 1) { totalCount nodes { id email } } }', {}, t),
    },
    {
      name: 'user',
      needs: ['users:read'],
      run: (t) => code('query ($id: ID!) { user(id: $id) { id email role } }', { id: member.id }, t),
    },
    {
      name: 'usersByIds',
      needs: ['users:read'],
      run: (t) => code('query ($ids: [ID!]!) { usersByIds(ids: $ids) { id } }', { ids: [member.id] }, t),
    },
    {
      name: 'unlockUser',
      needs: ['users:write'],
      run: (t) => code('mutation ($id: ID!) { unlockUser(id: $id) { id } }', { id: member.id }, t),
    },
    {
      name: 'User.sessions',
      needs: ['users:read', 'sessions:read'],
      run: (t) =>
        code('query ($id: ID!) { user(id: $id) { sessions { id createdAt } } }', { id: member.id }, t),
    },
    {
      name: 'revokeUserSessions',
      needs: ['sessions:revoke'],
      run: (t) => code('mutation ($id: ID!) { revokeUserSessions(userId: $id) }', { id: member.id }, t),
    },
    {
      name: 'tenant.settings',
      needs: ['tenant:read'],
      run: (t) => code('{ tenant { id settings { passwordMinLength } stats { totalUsers } } }', {}, t),
    },
    {
      name: 'auditEvents',
      needs: ['audit:read'],
      run: (t) => code('{ auditEvents(first: 1) { totalCount nodes { action } } }', {}, t),
    },
    {
      name: 'introspection endpoint',
      needs: ['tokens:introspect'],
      run: async () => undefined, // decided below, at the endpoint
    },
  ];
}

describe('scopes', () => {
  it('each scope opens exactly its own operations, and nothing else', async () => {
    const list = probes().filter((p) => p.name !== 'introspection endpoint');
    for (const scope of SCOPES) {
      const token = await serviceToken([scope]);
      for (const probe of list) {
        const outcome = await probe.run(token);
        const expected = probe.needs.every((needed) => needed === scope) ? 'OK' : 'FORBIDDEN';
        expect(`${scope} -> ${probe.name}: ${outcome}`).toBe(`${scope} -> ${probe.name}: ${expected}`);
      }
    }
    // Operations that need two scopes work with both.
    const both = await serviceToken(['users:read', 'sessions:read']);
    expect(await list.find((p) => p.name === 'User.sessions')?.run(both)).toBe('OK');
  });

  it('only tokens:introspect may introspect', async () => {
    for (const scope of SCOPES) {
      const account = await makeServiceAccount(server, tenant.admin, [scope]);
      const answer = await postForm(
        server,
        '/oauth/introspect',
        { token: 'x' },
        {
          authorization: basicAuth(account.clientId, account.clientSecret),
        },
      );
      expect(`${scope}: ${answer.status}`).toBe(`${scope}: ${scope === 'tokens:introspect' ? 200 : 403}`);
    }
  });

  it('fields with no scope rule are FORBIDDEN to services, whatever their scopes', async () => {
    const token = await serviceToken([...SCOPES]);
    for (const query of [
      '{ me { id } }',
      '{ mySessions { id } }',
      '{ tenants { totalCount } }',
      '{ cacheStats { hits } }',
      '{ serviceAccounts { totalCount } }',
      'mutation { logout }',
      'mutation { logoutAll }',
      'mutation { createServiceAccount(input: { name: "x", scopes: [] }) { clientId } }',
      'mutation { updateMe(input: { displayName: "x" }) { id } }',
    ]) {
      const answer = await server.gql(query, {}, { token });
      expect(`${query}: ${answer.errors?.[0]?.extensions?.code}`).toBe(`${query}: FORBIDDEN`);
    }
  });

  it('viewer tells a service who it is; a person sees themself', async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['users:read'], { name: 'reporting' });
    const token = await accessToken(account);
    const answer = ok(
      await server.gql(
        '{ viewer { user { id } serviceAccount { id name clientId } tenant { id slug } scopes } }',
        {},
        { token },
      ),
    );
    expect(answer.viewer).toEqual({
      user: null,
      serviceAccount: { id: account.id, name: 'reporting', clientId: account.clientId },
      tenant: { id: tenant.id, slug: tenant.slug },
      scopes: ['users:read'],
    });
    const person = ok(
      await server.gql(
        '{ viewer { user { id } serviceAccount { id } scopes } }',
        {},
        { token: tenant.admin.token },
      ),
    );
    expect(person.viewer).toEqual({ user: { id: tenant.admin.userId }, serviceAccount: null, scopes: [] });
  });
});

describe('tenants', () => {
  it("a service sees its own tenant only: other tenants' users are null or NOT_FOUND", async () => {
    const token = await serviceToken(['users:read', 'users:write', 'sessions:revoke']);
    const byId = ok(
      await server.gql('query ($id: ID!) { user(id: $id) { id } }', { id: outsider.id }, { token }),
    );
    expect(byId.user).toBeNull();
    const byIds = ok(
      await server.gql(
        'query ($ids: [ID!]!) { usersByIds(ids: $ids) { id } }',
        { ids: [outsider.id, member.id, 'nope'] },
        { token },
      ),
    );
    expect(byIds.usersByIds).toEqual([null, { id: member.id }, null]);
    const list = await server.gql(
      'query ($t: ID) { users(tenantId: $t) { totalCount } }',
      { t: other.id },
      { token },
    );
    expect(list.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const unlock = await server.gql(
      'mutation ($id: ID!) { unlockUser(id: $id) { id } }',
      { id: outsider.id },
      { token },
    );
    expect(unlock.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const revoke = await server.gql(
      'mutation ($id: ID!) { revokeUserSessions(userId: $id) }',
      { id: outsider.id },
      { token },
    );
    expect(revoke.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('a system-tenant service may name another tenant', async () => {
    const token = await serviceToken(['users:read'], system);
    const list = ok(
      await server.gql('query ($t: ID) { users(tenantId: $t) { totalCount } }', { t: other.id }, { token }),
    );
    expect(list.users.totalCount).toBeGreaterThanOrEqual(2);
    const byId = ok(
      await server.gql('query ($id: ID!) { user(id: $id) { id } }', { id: outsider.id }, { token }),
    );
    expect(byId.user).toEqual({ id: outsider.id });
  });

  it("an ADMIN cannot see or change another tenant's service accounts", async () => {
    const foreign = await makeServiceAccount(server, other.admin, ['users:read']);
    const read = ok(
      await server.gql(
        'query ($id: ID!) { serviceAccount(id: $id) { id } }',
        { id: foreign.id },
        { token: tenant.admin.token },
      ),
    );
    expect(read.serviceAccount).toBeNull();
    for (const mutation of [
      'mutation ($id: ID!) { deleteServiceAccount(id: $id) }',
      'mutation ($id: ID!) { rotateServiceAccountSecret(id: $id) { clientSecret } }',
      'mutation ($id: ID!) { updateServiceAccount(id: $id, input: { status: DISABLED }) { id } }',
    ]) {
      const answer = await server.gql(mutation, { id: foreign.id }, { token: tenant.admin.token });
      expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    const list = ok(
      await server.gql('{ serviceAccounts(first: 100) { nodes { id } } }', {}, { token: tenant.admin.token }),
    );
    expect(list.serviceAccounts.nodes.map((n: { id: string }) => n.id)).not.toContain(foreign.id);
    const crossed = await server.gql(
      'query ($t: ID) { serviceAccounts(tenantId: $t) { totalCount } }',
      { t: other.id },
      { token: tenant.admin.token },
    );
    expect(crossed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('API keys and the audit trail', () => {
  it('an API key acts as its account; revoked it is 401 at once', async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['users:read', 'users:write']);
    const created = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id } } }',
        { input: { serviceAccountId: account.id, name: 'sync' } },
        { token: tenant.admin.token },
      ),
    ).createApiKey;
    const list = ok(await server.gql('{ users(first: 5) { totalCount } }', {}, { token: created.key }));
    expect(list.users.totalCount).toBeGreaterThan(0);
    const made = ok(
      await server.gql(
        'mutation ($input: CreateUserInput!) { createUser(input: $input) { id role } }',
        {
          input: {
            email: `svc-${Date.now()}@example.test`,
            password: 'Service made passphrase 3!',
            role: 'USER',
          },
        },
        { token: created.key },
      ),
    );
    const events = await auditTrail(server, tenant.id, 'user.created');
    const event = events.find((e) => e.targetId === made.createUser.id);
    expect(event?.actorId).toBe(account.id);
    expect((event?.metadata as Record<string, unknown>)?.actorType).toBe('SERVICE');

    ok(
      await server.gql(
        'mutation ($id: ID!) { revokeApiKey(id: $id) }',
        { id: created.apiKey.id },
        { token: tenant.admin.token },
      ),
    );
    const refused = await server.gql('{ users(first: 1) { totalCount } }', {}, { token: created.key });
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const unknown = await server.gql(
      '{ users(first: 1) { totalCount } }',
      {},
      { token: `${created.key.slice(0, -3)}AAA` },
    );
    expect(unknown.status).toBe(401);
  });

  it('records every change to an account, and never a secret', async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['users:read']);
    ok(
      await server.gql(
        'mutation ($id: ID!) { rotateServiceAccountSecret(id: $id, input: { graceSeconds: 60 }) { clientId } }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    );
    ok(
      await server.gql(
        'mutation ($id: ID!) { updateServiceAccount(id: $id, input: { scopes: ["users:read", "audit:read"] }) { id } }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    );
    ok(
      await server.gql(
        'mutation ($id: ID!) { deleteServiceAccount(id: $id) }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    );
    const trail = (await auditTrail(server, tenant.id)).filter((e) => e.targetId === account.id);
    expect(trail.map((e) => e.action)).toEqual([
      'service_account.created',
      'service_account.secret_rotated',
      'service_account.updated',
      'service_account.deleted',
    ]);
    expect(JSON.stringify(trail)).not.toContain(account.clientSecret);
  });

  it('refuses unknown scopes and bad input with BAD_USER_INPUT', async () => {
    const answer = await server.gql(
      'mutation { createServiceAccount(input: { name: "", scopes: ["users:read", "everything"] }) { clientId } }',
      {},
      { token: tenant.admin.token },
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const fields = ((answer.errors?.[0]?.extensions?.fields ?? []) as { field: string }[])
      .map((f) => f.field)
      .sort();
    expect(fields).toEqual(['name', 'scopes']);
  });
});
