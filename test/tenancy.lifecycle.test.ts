import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  auditedFields,
  auditTrail,
  fieldsOf,
  makeTenant,
  makeUser,
  makeWorld,
  ok,
  PASSWORD,
  signInSystemAdmin,
  tokenWorks,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const UPDATE_TENANT = `mutation ($id: ID!, $input: UpdateTenantInput!) {
  updateTenant(id: $id, input: $input) {
    id name status settings { passwordMinLength lockoutMinutes maxFailedLogins allowSelfRegistration }
  }
}`;
const DELETE_TENANT = 'mutation ($id: ID!) { deleteTenant(id: $id) }';
const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }';
const REFRESH = 'mutation ($t: String!) { refresh(input: { refreshToken: $t }) { accessToken } }';
const BOUNDS = {
  passwordMinLength: [8, 128],
  maxFailedLogins: [1, 100],
  lockoutMinutes: [1, 1440],
  accessTokenTtlSeconds: [60, 86_400],
  refreshTokenTtlSeconds: [300, 7_776_000],
} as const;

describe('tenants: updateTenant, suspension and deletion', () => {
  const server = useTestServer();
  let system: Actor;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
  });

  const gql = (query: string, variables: Record<string, unknown>, by?: Actor) =>
    server.gql(query, variables, { token: by?.token });
  const login = (slug: string, email: string) =>
    gql(LOGIN, { input: { tenant: slug, email, password: PASSWORD } });

  it('lets a tenant ADMIN rename their tenant and change its settings, keeping the others; audited', async () => {
    const tenant = await makeTenant(server, system, { settings: { maxFailedLogins: 7 } });
    const input = { name: '  Renamed  ', settings: { lockoutMinutes: 45, allowSelfRegistration: false } };
    const { updateTenant } = ok(await gql(UPDATE_TENANT, { id: tenant.id, input }, tenant.admin));
    expect(updateTenant).toMatchObject({ name: 'Renamed', status: 'ACTIVE' });
    expect(updateTenant.settings).toEqual({
      passwordMinLength: 12,
      lockoutMinutes: 45,
      maxFailedLogins: 7,
      allowSelfRegistration: false,
    });
    const [event] = await auditTrail(server, tenant.id, 'tenant.updated');
    expect(event).toMatchObject({ actorId: tenant.admin.userId, targetId: tenant.id });
    expect(auditedFields(event)).toEqual([
      'name',
      'settings.allowSelfRegistration',
      'settings.lockoutMinutes',
    ]);
    const register = await gql('mutation ($i: RegisterInput!) { register(input: $i) { accessToken } }', {
      i: { tenant: tenant.slug, email: 'self@example.test', password: PASSWORD },
    });
    expect(errorCode(register)).toBe('FORBIDDEN');
  });

  it('keeps status changes for system ADMINs', async () => {
    const tenant = await makeTenant(server, system);
    const response = await gql(
      UPDATE_TENANT,
      { id: tenant.id, input: { status: 'SUSPENDED' } },
      tenant.admin,
    );
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(await tokenWorks(server, tenant.admin.token)).toBe(true);
  });

  it('accepts each setting at its bounds and rejects one step outside, naming the field', async () => {
    const tenant = await makeTenant(server, system);
    for (const [name, [min, max]] of Object.entries(BOUNDS)) {
      for (const value of [min, max]) {
        // Token lifetimes must stay in order, so the other one is set to a compatible value.
        const settings =
          name === 'accessTokenTtlSeconds'
            ? { [name]: value, refreshTokenTtlSeconds: 7_776_000 }
            : name === 'refreshTokenTtlSeconds'
              ? { [name]: value, accessTokenTtlSeconds: 60 }
              : { [name]: value };
        expect(
          errorCode(await gql(UPDATE_TENANT, { id: tenant.id, input: { settings } }, system)),
          `${name}=${value}`,
        ).toBeUndefined();
      }
      for (const value of [min - 1, max + 1]) {
        const response = await gql(
          UPDATE_TENANT,
          { id: tenant.id, input: { settings: { [name]: value } } },
          system,
        );
        expect(fieldsOf(response), `${name}=${value}`).toEqual([`settings.${name}`]);
      }
    }
    const crossed = await gql(
      UPDATE_TENANT,
      { id: tenant.id, input: { settings: { accessTokenTtlSeconds: 3600, refreshTokenTtlSeconds: 600 } } },
      system,
    );
    expect(fieldsOf(crossed)).toEqual(['settings.accessTokenTtlSeconds']);
    const nulls = await gql(
      UPDATE_TENANT,
      { id: tenant.id, input: { name: null, settings: { lockoutMinutes: null } } },
      system,
    );
    expect(fieldsOf(nulls)).toEqual(['name']);
  });

  it('suspending a tenant stops its tokens, sign-ins and refreshes at once; reactivating restores sign-in', async () => {
    const world = await makeWorld(server, system);
    const user = await makeUser(server, world.admin);
    const { login: signedIn } = ok(await login(world.slug, user.email));
    ok(await gql(UPDATE_TENANT, { id: world.id, input: { status: 'SUSPENDED' } }, system));
    for (const actor of Object.values(world.as)) expect(await tokenWorks(server, actor.token)).toBe(false);
    expect(await tokenWorks(server, signedIn.accessToken)).toBe(false);
    expect(errorCode(await gql(REFRESH, { t: signedIn.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await login(world.slug, user.email))).toBe('UNAUTHENTICATED');
    expect(
      ok(await gql('query ($s: String!) { tenantInfo(slug: $s) { slug } }', { s: world.slug })).tenantInfo,
    ).toBeNull();
    const { tenant } = ok(
      await gql('query ($id: ID) { tenant(id: $id) { status } }', { id: world.id }, system),
    );
    expect(tenant.status).toBe('SUSPENDED');
    ok(await gql(UPDATE_TENANT, { id: world.id, input: { status: 'ACTIVE' } }, system));
    expect(errorCode(await login(world.slug, user.email))).toBeUndefined();
  });

  it('never suspends or deletes the system tenant', async () => {
    const suspend = await gql(UPDATE_TENANT, { id: system.tenantId, input: { status: 'SUSPENDED' } }, system);
    expect(errorCode(suspend)).toBe('FORBIDDEN');
    const remove = await gql(DELETE_TENANT, { id: system.tenantId }, system);
    expect(errorCode(remove)).toBe('FORBIDDEN');
    expect(await tokenWorks(server, system.token)).toBe(true);
    // Its name and settings may still change.
    ok(await gql(UPDATE_TENANT, { id: system.tenantId, input: { name: 'Platform' } }, system));
  });

  it('deleting a tenant removes everything it owns and stops its tokens; audited in the operator tenant', async () => {
    const world = await makeWorld(server, system);
    const member = world.as.USER;
    expect(ok(await gql(DELETE_TENANT, { id: world.id }, system)).deleteTenant).toBe(true);
    for (const actor of Object.values(world.as)) expect(await tokenWorks(server, actor.token)).toBe(false);
    expect(errorCode(await login(world.slug, member.email))).toBe('UNAUTHENTICATED');
    expect(
      ok(await gql('query ($id: ID!) { user(id: $id) { id } }', { id: member.userId }, system)).user,
    ).toBeNull();
    expect(
      ok(await gql('query ($id: ID) { tenant(id: $id) { id } }', { id: world.id }, system)).tenant,
    ).toBeNull();
    expect(await auditTrail(server, world.id)).toEqual([]);
    const [event] = (await auditTrail(server, system.tenantId, 'tenant.deleted')).filter(
      (e) => e.targetId === world.id,
    );
    expect(event).toMatchObject({ actorId: system.userId, metadata: { slug: world.slug, endedSessions: 4 } });
    expect(errorCode(await gql(DELETE_TENANT, { id: world.id }, system))).toBe('NOT_FOUND');
    // The slug is free again.
    await expect(makeTenant(server, system, { slug: world.slug })).resolves.toMatchObject({
      slug: world.slug,
    });
  });

  it('lists tenants for system ADMINs: search by slug or name, keyset pages, totalCount', async () => {
    const marker = `zq${Date.now().toString(36)}`;
    const made = [];
    for (let i = 0; i < 5; i++)
      made.push(await makeTenant(server, system, { name: `${marker.toUpperCase()} Org ${i}` }));
    made.push(await makeTenant(server, system, { slug: `${marker}-by-slug` }));
    const query =
      'query ($s: String, $a: String) { tenants(first: 2, search: $s, after: $a) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }';
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const tenants = ok(await gql(query, { s: marker, a: after }, system)).tenants as {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string };
        nodes: { id: string }[];
      };
      expect(tenants.totalCount).toBe(6);
      seen.push(...tenants.nodes.map((n) => n.id));
      after = tenants.pageInfo.hasNextPage ? tenants.pageInfo.endCursor : null;
    } while (after);
    expect([...seen].sort()).toEqual(made.map((t) => t.id).sort());
    // They share a creation instant, so the id breaks the tie.
    expect(seen).toEqual([...seen].sort());
    const bySlug = ok(await gql(query, { s: `${marker}-BY` }, system));
    expect(bySlug.tenants.nodes).toEqual([{ id: made[5]?.id }]);
    expect(errorCode(await gql(query, { a: 'garbage' }, system))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql('{ tenants(first: 101) { totalCount } }', {}, system))).toBe('BAD_USER_INPUT');
  });
});
