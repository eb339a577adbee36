import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  auditTrail,
  CREATE_TENANT,
  fieldsOf,
  makeTenant,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  uniqueSlug,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const SETTINGS = `settings { allowSelfRegistration defaultRole passwordMinLength maxFailedLogins
  lockoutMinutes accessTokenTtlSeconds refreshTokenTtlSeconds }`;

describe('tenants: createTenant', () => {
  const server = useTestServer();
  let system: Actor;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
  });

  const create = (input: Record<string, unknown>) =>
    server.gql(CREATE_TENANT, { input }, { token: system.token });
  const valid = (overrides: Record<string, unknown> = {}) => {
    const slug = uniqueSlug();
    return {
      slug,
      name: `Tenant ${slug}`,
      adminEmail: `first@${slug}.test`,
      adminPassword: PASSWORD,
      ...overrides,
    };
  };
  const tenantCount = async () =>
    ok(await server.gql('{ tenants { totalCount } }', {}, { token: system.token })).tenants
      .totalCount as number;

  it('creates the tenant with its first ADMIN, who can sign in and administer it', async () => {
    const input = valid({ adminDisplayName: 'First Admin', settings: { lockoutMinutes: 30 } });
    const { createTenant } = ok(await create(input));
    expect(createTenant.tenant).toMatchObject({ slug: input.slug, name: input.name, status: 'ACTIVE' });
    expect(createTenant.admin).toMatchObject({ email: input.adminEmail, role: 'ADMIN' });
    const admin = await signIn(server, input.slug, input.adminEmail);
    const own = ok(
      await server.gql(
        `{ tenant { id slug ${SETTINGS} } me { displayName tenant { id } } }`,
        {},
        { token: admin.token },
      ),
    );
    expect(own.tenant.id).toBe(createTenant.tenant.id);
    expect(own.me).toEqual({ displayName: 'First Admin', tenant: { id: createTenant.tenant.id } });
    // New tenants allow self-registration; unspecified settings take the defaults.
    expect(own.tenant.settings).toMatchObject({
      allowSelfRegistration: true,
      defaultRole: 'USER',
      passwordMinLength: 12,
      lockoutMinutes: 30,
    });
    const info = ok(
      await server.gql('query ($s: String!) { tenantInfo(slug: $s) { slug allowSelfRegistration } }', {
        s: input.slug,
      }),
    );
    expect(info.tenantInfo).toEqual({ slug: input.slug, allowSelfRegistration: true });
  });

  it('does not let anyone register in the system tenant', async () => {
    const system_ = ok(await server.gql(`{ tenant { slug ${SETTINGS} } }`, {}, { token: system.token }));
    expect(system_.tenant.settings.allowSelfRegistration).toBe(false);
  });

  it('records tenant.created in the operator tenant and user.created in the new one', async () => {
    const input = valid();
    const { createTenant } = ok(await create(input));
    const created = (await auditTrail(server, system.tenantId, 'tenant.created')).find(
      (e) => e.targetId === createTenant.tenant.id,
    );
    expect(created).toMatchObject({ actorId: system.userId, targetType: 'tenant' });
    const [userCreated] = await auditTrail(server, createTenant.tenant.id, 'user.created');
    expect(userCreated).toMatchObject({ actorId: system.userId, targetId: createTenant.admin.id });
    expect(JSON.stringify([created, userCreated])).not.toContain(PASSWORD);
  });

  it('accepts slugs of 3 and 63 characters and refuses every malformed one', async () => {
    for (const slug of [`a${uniqueSlug('')}`.slice(0, 3), `z${uniqueSlug()}`.padEnd(63, 'x')]) {
      expect(errorCode(await create(valid({ slug, adminEmail: 'a@b.test' })))).toBeUndefined();
    }
    for (const slug of ['ab', '-abc', 'abc-', 'Abc', 'a_b', 'a.b', 'a b', 'x'.repeat(64), '']) {
      const response = await create(valid({ slug }));
      expect(errorCode(response), slug).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual(['slug']);
    }
  });

  it('validates every field at once, without echoing the password, and creates nothing', async () => {
    const before = await tenantCount();
    const adminPassword = 'tiny1';
    const response = await create({
      slug: 'Bad Slug',
      name: 'n'.repeat(101),
      adminEmail: 'not-an-email',
      adminPassword,
      adminDisplayName: 'd'.repeat(101),
      settings: { passwordMinLength: 7, maxFailedLogins: 0, lockoutMinutes: 1441, defaultRole: 'ADMIN' },
    });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual([
      'adminDisplayName',
      'adminEmail',
      'adminPassword',
      'name',
      'settings.defaultRole',
      'settings.lockoutMinutes',
      'settings.maxFailedLogins',
      'settings.passwordMinLength',
      'slug',
    ]);
    expect(JSON.stringify(response)).not.toContain(adminPassword);
    expect(errorCode(await create(valid({ name: '   ' })))).toBe('BAD_USER_INPUT');
    expect(await tenantCount()).toBe(before);
  });

  it("checks the admin's password against the new tenant's own minimum length", async () => {
    const response = await create(valid({ settings: { passwordMinLength: 40 } }));
    expect(response.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'adminPassword', message: expect.stringContaining('40') },
    ]);
  });

  it('answers CONFLICT for a slug in use, leaving nothing behind', async () => {
    const first = valid();
    ok(await create(first));
    const before = await tenantCount();
    const again = await create(valid({ slug: first.slug }));
    expect(errorCode(again)).toBe('CONFLICT');
    expect(again.errors?.[0]?.extensions?.fields).toEqual([{ field: 'slug', message: expect.any(String) }]);
    expect(errorCode(await create(valid({ slug: server.config.systemTenantSlug })))).toBe('CONFLICT');
    expect(await tenantCount()).toBe(before);
  });

  it('rolls the tenant back when its ADMIN cannot be written', async () => {
    const db = server.testDatabase.database.db;
    // A fault injected into this test's own database: the second insert of the transaction fails.
    await db.execute(sql`create function fail_admin() returns trigger language plpgsql as $$
      begin raise exception 'injected failure'; end $$`);
    await db.execute(sql`create trigger fail_admin before insert on users for each row
      when (new.email = 'explode@fault.test') execute function fail_admin()`);
    try {
      const input = valid({ adminEmail: 'explode@fault.test' });
      const before = await tenantCount();
      const response = await create(input);
      expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
      expect(await tenantCount()).toBe(before);
      const info = await server.gql('query ($s: String!) { tenantInfo(slug: $s) { slug } }', {
        s: input.slug,
      });
      expect(info.data?.tenantInfo).toBeNull();
      // Once the fault is gone the same slug is free.
      await db.execute(sql`drop trigger fail_admin on users`);
      expect(errorCode(await create(valid({ slug: input.slug })))).toBeUndefined();
    } finally {
      await db.execute(sql`drop trigger if exists fail_admin on users`);
      await db.execute(sql`drop function if exists fail_admin()`);
    }
  });

  it('is for system ADMINs only', async () => {
    const tenant = await makeTenant(server, system);
    const response = await server.gql(CREATE_TENANT, { input: valid() }, { token: tenant.admin.token });
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(errorCode(await server.gql(CREATE_TENANT, { input: valid() }))).toBe('UNAUTHENTICATED');
  });
});
