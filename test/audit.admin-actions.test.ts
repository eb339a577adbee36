import { beforeAll, describe, expect, it } from 'vitest';
import { auditProbe } from './support/audit-events.js';
import {
  type Actor,
  CREATE_TENANT,
  CREATE_USER,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  uniqueSlug,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/**
 * Tenant administration and refused requests in the audit trail: tenant.created, user.created
 * (a tenant's first ADMIN), tenant.updated, tenant.deleted and authz.denied, each with the right
 * tenant, actor, target, IP, user agent and time.
 */

const server = useTestServer();
let system: Actor;
let tenant: { id: string; slug: string };
let admin: Actor;
const { call, ok, events, expectEvent } = auditProbe(
  () => server,
  () => system,
);

beforeAll(async () => {
  system = await signInSystemAdmin(server);
});

describe('audit trail of tenant administration', () => {
  it('records tenant.created in the operator’s tenant and user.created in the new one', async () => {
    server.clock.advance(1_000);
    const slug = uniqueSlug('audit');
    const created = await ok(
      CREATE_TENANT,
      {
        input: {
          slug,
          name: 'Audited',
          adminEmail: `admin@${slug}.test`,
          adminPassword: PASSWORD,
          settings: { maxFailedLogins: 2 },
        },
      },
      system.token,
    );
    tenant = { id: created.createTenant.tenant.id, slug };
    const adminId = created.createTenant.admin.id;
    await expectEvent(system.tenantId, 'tenant.created', {
      actorId: system.userId,
      targetType: 'tenant',
      targetId: tenant.id,
    });
    await expectEvent(tenant.id, 'user.created', {
      actorId: system.userId,
      targetType: 'user',
      targetId: adminId,
    });
    admin = await signIn(server, slug, `admin@${slug}.test`);
  });

  it('records tenant.updated by its ADMIN and tenant.deleted in the operator’s tenant', async () => {
    server.clock.advance(1_000);
    await ok(
      'mutation ($id: ID!) { updateTenant(id: $id, input: { name: "Renamed" }) { id } }',
      { id: tenant.id },
      admin.token,
    );
    await expectEvent(tenant.id, 'tenant.updated', {
      actorId: admin.userId,
      targetType: 'tenant',
      targetId: tenant.id,
      metadata: { fields: ['name'] },
    });

    server.clock.advance(1_000);
    await ok('mutation ($id: ID!) { deleteTenant(id: $id) }', { id: tenant.id }, system.token);
    await expectEvent(system.tenantId, 'tenant.deleted', {
      actorId: system.userId,
      targetType: 'tenant',
      targetId: tenant.id,
    });
  });

  it('records authz.denied for a FORBIDDEN answer to a signed-in caller', async () => {
    const slug = uniqueSlug('deny');
    const created = await ok(
      CREATE_TENANT,
      { input: { slug, name: 'Deny', adminEmail: `admin@${slug}.test`, adminPassword: PASSWORD } },
      system.token,
    );
    const owner = await signIn(server, slug, `admin@${slug}.test`);
    const plain = (
      await ok(
        CREATE_USER,
        { input: { email: `${uniqueSlug('p')}@example.test`, password: PASSWORD } },
        owner.token,
      )
    ).createUser;
    const user = await signIn(server, slug, plain.email);
    server.clock.advance(1_000);
    const denied = await call('{ auditEvents { totalCount } }', {}, user.token);
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const event = await expectEvent(created.createTenant.tenant.id, 'authz.denied', {
      actorId: user.userId,
      targetType: null,
      targetId: null,
    });
    expect(event.metadata).toMatchObject({ paths: ['auditEvents'], role: 'USER' });
    // Anonymous callers get UNAUTHENTICATED, which is no authorization decision.
    expect((await call('{ auditEvents { totalCount } }')).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    expect(await events(created.createTenant.tenant.id, 'authz.denied')).toHaveLength(1);
  });
});
