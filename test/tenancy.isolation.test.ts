import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  CREATE_USER,
  countStatements,
  DELETE_USER,
  makeUser,
  makeWorld,
  ok,
  PASSWORD,
  ROLES,
  type Role,
  signIn,
  signInSystemAdmin,
  type TenantWorld,
  UNLOCK_USER,
  UPDATE_USER,
} from './support/fixtures.js';
import { errorCode, type GraphQLResponse, useTestServer } from './support/server.js';

const USER = 'query ($id: ID!) { user(id: $id) { id email tenant { id } sessions { id user { id } } } }';
const UPDATE_TENANT =
  'mutation ($id: ID!, $input: UpdateTenantInput!) { updateTenant(id: $id, input: $input) { id } }';
const REVOKE = 'mutation ($id: ID!) { revokeSession(id: $id) }';

/** What a caller of tenant A gets for each operation on tenant B's objects, by role. */
type Answer = 'null' | 'FORBIDDEN' | 'NOT_FOUND' | 'UNAUTHENTICATED';
const moderatorUp = (role: Role): Answer =>
  role === 'MODERATOR' || role === 'ADMIN' ? 'NOT_FOUND' : 'FORBIDDEN';
const adminOnly = (role: Role): Answer => (role === 'ADMIN' ? 'NOT_FOUND' : 'FORBIDDEN');

describe('tenancy: nothing of another tenant is reachable', () => {
  const server = useTestServer();
  let system: Actor;
  let a: TenantWorld;
  let b: TenantWorld;
  let victim: { id: string; email: string };
  let victimSession: Actor;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    [a, b] = await Promise.all([makeWorld(server, system), makeWorld(server, system)]);
    victim = await makeUser(server, b.admin, { role: 'GUEST', displayName: 'Victim' });
    victimSession = await signIn(server, b.slug, victim.email);
  });

  const answer = (response: GraphQLResponse<Record<string, unknown>>, field: string): Answer | 'ok' => {
    const code = errorCode(response);
    if (code) return code as Answer;
    return response.data?.[field] === null ? 'null' : 'ok';
  };

  /** Each operation, run with an id of tenant B, a random id and a malformed one. */
  const operations: {
    name: string;
    field: string;
    run: (by: Actor, id: string) => Promise<GraphQLResponse<Record<string, unknown>>>;
    id: () => string;
    expected: (role: Role) => Answer;
  }[] = [
    {
      name: 'user(id)',
      field: 'user',
      run: (by, id) => server.gql(USER, { id }, { token: by.token }),
      id: () => victim.id,
      expected: (role) => (moderatorUp(role) === 'NOT_FOUND' ? 'null' : 'FORBIDDEN'),
    },
    {
      name: 'updateUser',
      field: 'updateUser',
      run: (by, id) => server.gql(UPDATE_USER, { id, input: { status: 'SUSPENDED' } }, { token: by.token }),
      id: () => victim.id,
      expected: moderatorUp,
    },
    {
      name: 'deleteUser',
      field: 'deleteUser',
      run: (by, id) => server.gql(DELETE_USER, { id }, { token: by.token }),
      id: () => victim.id,
      expected: adminOnly,
    },
    {
      name: 'unlockUser',
      field: 'unlockUser',
      run: (by, id) => server.gql(UNLOCK_USER, { id }, { token: by.token }),
      id: () => victim.id,
      expected: moderatorUp,
    },
    {
      name: 'revokeSession',
      field: 'revokeSession',
      run: (by, id) => server.gql(REVOKE, { id }, { token: by.token }),
      id: () => victimSession.sessionId,
      expected: () => 'NOT_FOUND',
    },
    {
      name: 'tenant(id)',
      field: 'tenant',
      run: (by, id) => server.gql('query ($id: ID) { tenant(id: $id) { id } }', { id }, { token: by.token }),
      id: () => b.id,
      expected: () => 'null',
    },
    {
      name: 'updateTenant',
      field: 'updateTenant',
      run: (by, id) => server.gql(UPDATE_TENANT, { id, input: { name: 'Taken over' } }, { token: by.token }),
      id: () => b.id,
      expected: adminOnly,
    },
    {
      name: 'deleteTenant',
      field: 'deleteTenant',
      run: (by, id) =>
        server.gql('mutation ($id: ID!) { deleteTenant(id: $id) }', { id }, { token: by.token }),
      id: () => b.id,
      expected: () => 'FORBIDDEN',
    },
  ];

  for (const operation of operations) {
    for (const role of ROLES) {
      it(`${operation.name} by a ${role} of tenant A on tenant B answers like a missing id`, async () => {
        const by = a.as[role];
        const expected = operation.expected(role);
        const foreign = await operation.run(by, operation.id());
        const missing = await operation.run(by, randomUUID());
        const malformed = await operation.run(by, 'not-a-uuid');
        for (const response of [foreign, missing, malformed]) {
          expect(answer(response, operation.field)).toBe(expected);
        }
        // Same message, same path: nothing tells the three apart.
        expect(foreign.errors?.[0]?.message).toBe(missing.errors?.[0]?.message);
        expect(malformed.errors?.[0]?.message).toBe(missing.errors?.[0]?.message);
      });
    }
  }

  it('does the same work for an id of another tenant as for one that does not exist', async () => {
    const by = a.as.ADMIN;
    await server.gql(UPDATE_USER, { id: randomUUID(), input: { displayName: 'x' } }, { token: by.token });
    for (const operation of operations) {
      const foreign = await countStatements(server, () => operation.run(by, operation.id()));
      const missing = await countStatements(server, () => operation.run(by, randomUUID()));
      expect(foreign, operation.name).toBe(missing);
    }
  });

  it("refuses every role tenantId arguments naming tenant B, and never lists B's users", async () => {
    for (const role of ROLES) {
      const by = a.as[role];
      const list = await server.gql(
        'query ($t: ID) { users(tenantId: $t) { totalCount } }',
        { t: b.id },
        { token: by.token },
      );
      expect(errorCode(list)).toBe('FORBIDDEN');
      const create = await server.gql(
        CREATE_USER,
        { input: { email: 'x@y.test', password: PASSWORD, tenantId: b.id } },
        { token: by.token },
      );
      expect(errorCode(create)).toBe('FORBIDDEN');
    }
    const own = ok(
      await server.gql('{ users(first: 100) { nodes { id tenant { id } } } }', {}, { token: a.admin.token }),
    );
    expect(own.users.nodes.every((n: { tenant: { id: string } }) => n.tenant.id === a.id)).toBe(true);
    expect(own.users.nodes.map((n: { id: string }) => n.id)).not.toContain(victim.id);
  });

  it("left tenant B's user, session and tenant as they were", async () => {
    const read = ok(await server.gql(USER, { id: victim.id }, { token: b.admin.token }));
    expect(read.user.sessions.map((s: { id: string }) => s.id)).toContain(victimSession.sessionId);
    const tenant = ok(await server.gql('{ tenant { name status } }', {}, { token: b.admin.token }));
    expect(tenant.tenant).toEqual({ name: `Tenant ${b.slug}`, status: 'ACTIVE' });
    expect(errorCode(await server.gql('{ me { id } }', {}, { token: victimSession.token }))).toBeUndefined();
  });

  it("lets a system ADMIN reach every tenant's users, with their own tenant and sessions", async () => {
    const read = ok(await server.gql(USER, { id: victim.id }, { token: system.token }));
    expect(read.user).toMatchObject({ id: victim.id, tenant: { id: b.id } });
    expect(read.user.sessions).toContainEqual({ id: victimSession.sessionId, user: { id: victim.id } });
    const listed = ok(
      await server.gql(
        'query ($t: ID) { users(tenantId: $t, first: 100) { nodes { id } } }',
        { t: b.id },
        { token: system.token },
      ),
    );
    expect(listed.users.nodes.map((n: { id: string }) => n.id)).toContain(victim.id);
    const created = ok(
      await server.gql(
        CREATE_USER,
        { input: { email: 'by-system@b.test', password: PASSWORD, tenantId: b.id } },
        { token: system.token },
      ),
    );
    expect(created.createUser.tenant.id).toBe(b.id);
    ok(await server.gql(UNLOCK_USER, { id: victim.id }, { token: system.token }));
    ok(
      await server.gql(
        UPDATE_USER,
        { id: created.createUser.id, input: { displayName: 'Renamed' } },
        { token: system.token },
      ),
    );
    expect(
      ok(await server.gql(REVOKE, { id: victimSession.sessionId }, { token: system.token })).revokeSession,
    ).toBe(true);
    expect(
      ok(await server.gql(DELETE_USER, { id: created.createUser.id }, { token: system.token })).deleteUser,
    ).toBe(true);
    const unknown = await server.gql(
      'query ($t: ID) { users(tenantId: $t) { totalCount } }',
      { t: randomUUID() },
      { token: system.token },
    );
    expect(errorCode(unknown)).toBe('NOT_FOUND');
  });
});
