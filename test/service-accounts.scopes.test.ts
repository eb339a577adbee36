import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/modules/realtime/topics.js';
import { SCOPES } from '../src/modules/service-accounts/scopes.js';
import { serviceScopeRules } from '../src/modules/service-accounts/service-accounts.scope-rules.js';
import {
  type Actor,
  makeTenant,
  makeUser,
  ok,
  signIn,
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
import { eventually, openSocket } from './support/ws.js';

/**
 * The scope vocabulary, walked generically: for every scope, a service holding all the others
 * is refused (FORBIDDEN) exactly the operations and fields that need the missing one, and
 * reaches every other. Probes never change anything that matters: writes name ids that do not
 * exist or carry input that fails validation, so "allowed" is NOT_FOUND or BAD_USER_INPUT (the
 * resolver ran) and "refused" is FORBIDDEN (the rule stopped it). Then: service accounts of two
 * tenants never reach each other.
 */

const server = useOAuthServer();
let system: Actor;
let tenant: TenantHandle;
let other: TenantHandle;
let member: { id: string; email: string; sessionId: string };

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
  other = await makeTenant(server, system);
  const user = await makeUser(server, tenant.admin, { role: 'USER' });
  const signedIn = await signIn(server, tenant.slug, user.email);
  member = { id: user.id, email: user.email, sessionId: signedIn.sessionId };
}, 60_000);

async function tokenOf(account: Pick<ServiceAccountHandle, 'clientId' | 'clientSecret'>): Promise<string> {
  const answer = await postForm(
    server,
    '/oauth/token',
    { grant_type: 'client_credentials' },
    { authorization: basicAuth(account.clientId, account.clientSecret) },
  );
  expect(answer.status).toBe(200);
  return answer.body?.access_token as string;
}

type Outcome = 'ALLOWED' | 'FORBIDDEN' | string;

interface Probe {
  /** Root field (Query.x, Mutation.x) or nested field (Type.x) it exercises. */
  covers: string[];
  needs: string[];
  run(token: string, account: ServiceAccountHandle): Promise<Outcome>;
}

const missing = () => randomUUID();

/** ALLOWED when the operation reached its resolver (answered, or refused the input or the id). */
async function gqlOutcome(
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<Outcome> {
  const answer = await server.gql(query, variables, { token });
  const error = answer.errors?.[0];
  // A document that does not validate is the probe's own mistake, never an outcome.
  if (error && !error.path) return `INVALID PROBE: ${error.message}`;
  const code = error?.extensions?.code;
  if (code === undefined || code === 'NOT_FOUND' || code === 'BAD_USER_INPUT') return 'ALLOWED';
  return code;
}

function gqlProbe(
  covers: string[],
  needs: string[],
  query: string,
  variables: () => Record<string, unknown> = () => ({}),
): Probe {
  return { covers, needs, run: (token) => gqlOutcome(query, variables(), token) };
}

const PROBES: Probe[] = [
  gqlProbe(
    ['Query.users', 'UserConnection', 'UserEdge'],
    ['users:read'],
    '{ users(first: 1) { totalCount edges { cursor node { id } } pageInfo { hasNextPage } } }',
  ),
  gqlProbe(
    ['Query.user', 'User'],
    ['users:read'],
    'query ($id: ID!) { user(id: $id) { id email displayName role status lockedUntil lastLoginAt createdAt updatedAt emailVerifiedAt mfaEnabled tenant { id } } }',
    () => ({ id: member.id }),
  ),
  gqlProbe(
    ['Query.usersByIds'],
    ['users:read'],
    'query ($ids: [ID!]!) { usersByIds(ids: $ids) { id } }',
    () => ({
      ids: [member.id],
    }),
  ),
  gqlProbe(
    ['Mutation.createUser'],
    ['users:write'],
    'mutation { createUser(input: { email: "not an email", password: "x", role: USER }) { id } }',
  ),
  gqlProbe(
    ['Mutation.updateUser'],
    ['users:write'],
    'mutation ($id: ID!) { updateUser(id: $id, input: { displayName: "x" }) { id } }',
    () => ({
      id: missing(),
    }),
  ),
  gqlProbe(['Mutation.deleteUser'], ['users:write'], 'mutation ($id: ID!) { deleteUser(id: $id) }', () => ({
    id: missing(),
  })),
  gqlProbe(
    ['Mutation.unlockUser'],
    ['users:write'],
    'mutation ($id: ID!) { unlockUser(id: $id) { id } }',
    () => ({ id: missing() }),
  ),
  gqlProbe(
    ['Mutation.setUserPassword'],
    ['users:write'],
    'mutation ($id: ID!) { setUserPassword(id: $id, input: { newPassword: "A long enough passphrase 12!" }) }',
    () => ({ id: missing() }),
  ),
  gqlProbe(
    ['User.sessions', 'Session'],
    ['users:read', 'sessions:read'],
    'query ($id: ID!) { user(id: $id) { sessions { id createdAt lastUsedAt expiresAt } } }',
    () => ({ id: member.id }),
  ),
  gqlProbe(
    ['Mutation.revokeSession'],
    ['sessions:revoke'],
    'mutation ($id: ID!) { revokeSession(id: $id) }',
    () => ({ id: missing() }),
  ),
  gqlProbe(
    ['Mutation.revokeUserSessions'],
    ['sessions:revoke'],
    'mutation ($id: ID!) { revokeUserSessions(userId: $id) }',
    () => ({
      id: missing(),
    }),
  ),
  gqlProbe(
    [
      'Query.tenant',
      'Tenant.settings',
      'Tenant.stats',
      'TenantSettings',
      'TenantStats',
      'RoleCount',
      'StatusCount',
    ],
    ['tenant:read'],
    '{ tenant { id settings { passwordMinLength accessTokenTtlSeconds } stats { totalUsers usersByRole { role count } usersByStatus { status count } activeSessions } } }',
  ),
  gqlProbe(
    ['Query.auditEvents', 'AuditEventConnection', 'AuditEventEdge', 'AuditEvent'],
    ['audit:read'],
    '{ auditEvents(first: 1) { totalCount edges { node { id action actorId } } } }',
  ),
  gqlProbe(
    ['Query.invitations', 'InvitationConnection', 'InvitationEdge', 'Invitation'],
    ['invitations:write'],
    '{ invitations(first: 1) { totalCount edges { node { id email } } } }',
  ),
  gqlProbe(
    ['Mutation.inviteUser'],
    ['invitations:write'],
    'mutation { inviteUser(input: { email: "not an email" }) { id } }',
  ),
  gqlProbe(
    ['Mutation.revokeInvitation'],
    ['invitations:write'],
    'mutation ($id: ID!) { revokeInvitation(id: $id) }',
    () => ({
      id: missing(),
    }),
  ),
  {
    covers: ['POST /oauth/introspect'],
    needs: ['tokens:introspect'],
    async run(_token, account) {
      const answer = await postForm(
        server,
        '/oauth/introspect',
        { token: 'anything' },
        { authorization: basicAuth(account.clientId, account.clientSecret) },
      );
      if (answer.status === 200) return 'ALLOWED';
      return answer.status === 403 && answer.body?.error === 'insufficient_scope'
        ? 'FORBIDDEN'
        : String(answer.status);
    },
  },
  {
    covers: ['Subscription.auditEventAdded'],
    needs: ['audit:read'],
    async run(token) {
      const topic = topics.auditEventAdded(tenant.id);
      const before = server.app.services.events.listening(topic);
      const socket = openSocket(server.url, token);
      try {
        await socket.connected;
        const subscription = socket.subscribe('subscription { auditEventAdded { id action } }');
        await eventually(
          () => server.app.services.events.listening(topic) > before || subscription.completed,
          3_000,
          'the feed or its refusal',
        );
        return subscription.completed ? (subscription.errors[0]?.extensions?.code ?? 'ENDED') : 'ALLOWED';
      } finally {
        await socket.dispose();
      }
    },
  },
  // Open to every service whatever its scopes: who it is, and the tenant's public face.
  gqlProbe(
    ['Query.viewer', 'Tenant', 'PageInfo'],
    [],
    '{ viewer { tenant { id slug name status createdAt updatedAt } scopes } }',
  ),
];

describe('every scope, taken away from a service holding all the others', () => {
  it('the probes cover every scope and every field a scope rule opens', () => {
    const needed = new Set(PROBES.flatMap((p) => p.needs));
    expect([...SCOPES].filter((scope) => !needed.has(scope))).toEqual([]);
    const covered = new Set(PROBES.flatMap((p) => p.covers));
    const ruled = Object.entries(serviceScopeRules).flatMap(([type, fields]) =>
      type === 'Query' ||
      type === 'Mutation' ||
      type === 'Subscription' ||
      type === 'User' ||
      type === 'Tenant'
        ? Object.keys(fields)
            .filter(
              (field) =>
                !(
                  (type === 'User' && field !== 'sessions') ||
                  (type === 'Tenant' && !['settings', 'stats'].includes(field))
                ),
            )
            .map((field) => `${type}.${field}`)
        : [type],
    );
    expect(ruled.filter((name) => !covered.has(name) && !covered.has(name.split('.')[0] as string))).toEqual(
      [],
    );
  });

  for (const withheld of SCOPES) {
    it(`without ${withheld}: exactly the fields that need it are FORBIDDEN`, async () => {
      const account = await makeServiceAccount(
        server,
        tenant.admin,
        SCOPES.filter((scope) => scope !== withheld),
      );
      const token = await tokenOf(account);
      const seen: string[] = [];
      const expected: string[] = [];
      for (const probe of PROBES) {
        const name = probe.covers[0] as string;
        seen.push(`${name}: ${await probe.run(token, account)}`);
        expected.push(`${name}: ${probe.needs.includes(withheld) ? 'FORBIDDEN' : 'ALLOWED'}`);
      }
      expect(seen).toEqual(expected);
    });
  }

  it('with every scope, every probe is allowed', async () => {
    const account = await makeServiceAccount(server, tenant.admin, [...SCOPES]);
    const token = await tokenOf(account);
    for (const probe of PROBES) {
      expect(`${probe.covers[0]}: ${await probe.run(token, account)}`).toBe(`${probe.covers[0]}: ALLOWED`);
    }
  });

  it('a token asked for fewer scopes than the account holds is refused the rest', async () => {
    const account = await makeServiceAccount(server, tenant.admin, [...SCOPES]);
    const narrowed = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials', scope: 'users:read' },
      { authorization: basicAuth(account.clientId, account.clientSecret) },
    );
    const token = narrowed.body?.access_token as string;
    for (const probe of PROBES.filter((p) => !p.covers[0]?.startsWith('POST'))) {
      const expected = probe.needs.every((scope) => scope === 'users:read') ? 'ALLOWED' : 'FORBIDDEN';
      expect(`${probe.covers[0]}: ${await probe.run(token, account)}`).toBe(
        `${probe.covers[0]}: ${expected}`,
      );
    }
  });
});

describe('service accounts of two tenants', () => {
  it("reach nothing of each other's tenant", async () => {
    const ours = await makeServiceAccount(server, tenant.admin, [...SCOPES]);
    const theirs = await makeServiceAccount(server, other.admin, [...SCOPES]);
    const token = await tokenOf(ours);
    const theirToken = await tokenOf(theirs);
    const theirKey = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { serviceAccountId: theirs.id, name: 'theirs' } },
        { token: other.admin.token },
      ),
    ).createApiKey.key as string;

    // Naming the other tenant is FORBIDDEN; its rows are as absent as ones that do not exist.
    for (const [query, variables] of [
      ['query ($t: ID) { users(tenantId: $t) { totalCount } }', { t: other.id }],
      ['query ($t: ID) { auditEvents(tenantId: $t) { totalCount } }', { t: other.id }],
      ['query ($t: ID) { invitations(tenantId: $t) { totalCount } }', { t: other.id }],
      [
        'mutation ($t: ID) { createUser(input: { email: "x@example.test", password: "A long enough passphrase 12!", role: USER, tenantId: $t }) { id } }',
        { t: other.id },
      ],
      [
        'mutation ($t: ID) { inviteUser(input: { email: "x@example.test", tenantId: $t }) { id } }',
        { t: other.id },
      ],
    ] as const) {
      const answer = await server.gql(query, variables, { token });
      expect(`${query}: ${answer.errors?.[0]?.extensions?.code}`).toBe(`${query}: FORBIDDEN`);
    }
    const tenantById = await server.gql(
      'query ($id: ID) { tenant(id: $id) { id name } }',
      { id: other.id },
      { token },
    );
    expect(JSON.stringify(tenantById.data ?? null)).not.toContain(other.id);
    expect(ok(await server.gql('{ tenant { id } }', {}, { token })).tenant.id).toBe(tenant.id);

    // Their admin's session and user: not found from here.
    const foreignUser = other.admin.userId;
    expect(
      ok(await server.gql('query ($id: ID!) { user(id: $id) { id } }', { id: foreignUser }, { token })).user,
    ).toBeNull();
    for (const [query, variables] of [
      ['mutation ($id: ID!) { revokeSession(id: $id) }', { id: other.admin.sessionId }],
      ['mutation ($id: ID!) { revokeUserSessions(userId: $id) }', { id: foreignUser }],
      ['mutation ($id: ID!) { deleteUser(id: $id) }', { id: foreignUser }],
    ] as const) {
      const answer = await server.gql(query, variables, { token });
      expect(`${query}: ${answer.errors?.[0]?.extensions?.code}`).toBe(`${query}: NOT_FOUND`);
    }
    // Their audit trail never shows up in ours.
    const events = ok(
      await server.gql('{ auditEvents(first: 100) { nodes { tenantId actorId } } }', {}, { token }),
    ).auditEvents.nodes as { tenantId: string; actorId: string | null }[];
    expect(events.every((e) => e.tenantId === tenant.id)).toBe(true);

    // Introspection: their token and key are inactive to us; revoking them from here does nothing.
    for (const foreign of [theirToken, theirKey, other.admin.token]) {
      const answer = await postForm(
        server,
        '/oauth/introspect',
        { token: foreign },
        { authorization: basicAuth(ours.clientId, ours.clientSecret) },
      );
      expect(answer.body).toEqual({ active: false });
      const revoked = await postForm(
        server,
        '/oauth/revoke',
        { token: foreign },
        { authorization: basicAuth(ours.clientId, ours.clientSecret) },
      );
      expect(revoked.status).toBe(200);
    }
    for (const foreign of [theirToken, theirKey, other.admin.token]) {
      const still = await server.gql('{ viewer { tenant { id } } }', {}, { token: foreign });
      expect(still.errors).toBeUndefined();
      expect(still.data?.viewer.tenant.id).toBe(other.id);
    }
    // Their account still works, and their client id with our secret does not.
    const mixed = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(theirs.clientId, ours.clientSecret) },
    );
    expect(mixed.status).toBe(401);
  });
});
