import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  makeActor,
  makeTenant,
  ok,
  signInSystemAdmin,
  type TenantHandle,
  tokenWorks,
  UPDATE_USER,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/**
 * Ids are UUIDs in one spelling (lower case) from the moment they arrive: an id sent in upper
 * case finds the same row, and the caches are invalidated by the id the database holds, so a
 * demotion or suspension sent that way takes effect at once.
 */
describe('security: ids in any case', () => {
  const server = useTestServer();
  let system: Actor;
  let tenant: TenantHandle;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    tenant = await makeTenant(server, system);
  });

  const listUsers = (actor: Actor) => server.gql('{ users { totalCount } }', {}, { token: actor.token });

  it('demotes at once when the id is sent in upper case', async () => {
    const moderator = await makeActor(server, tenant, 'MODERATOR');
    // Its role is now cached (in memory and in Redis) by the token check.
    expect(errorCode(await listUsers(moderator))).toBeUndefined();
    const demoted = ok(
      await server.gql(
        UPDATE_USER,
        { id: moderator.userId.toUpperCase(), input: { role: 'USER' } },
        {
          token: tenant.admin.token,
        },
      ),
    );
    expect(demoted.updateUser.id).toBe(moderator.userId);
    expect(errorCode(await listUsers(moderator))).toBe('FORBIDDEN');
  });

  it('suspends at once when the id is sent in upper case, user and tenant alike', async () => {
    const user = await makeActor(server, tenant, 'USER');
    expect(await tokenWorks(server, user.token)).toBe(true);
    ok(
      await server.gql(
        UPDATE_USER,
        { id: user.userId.toUpperCase(), input: { status: 'SUSPENDED' } },
        {
          token: tenant.admin.token,
        },
      ),
    );
    expect(await tokenWorks(server, user.token)).toBe(false);

    const other = await makeTenant(server, system);
    const member = await makeActor(server, other, 'USER');
    expect(await tokenWorks(server, member.token)).toBe(true);
    ok(
      await server.gql(
        'mutation ($id: ID!) { updateTenant(id: $id, input: { status: SUSPENDED }) { id status } }',
        { id: other.id.toUpperCase() },
        { token: system.token },
      ),
    );
    expect(await tokenWorks(server, member.token)).toBe(false);
    expect(await tokenWorks(server, other.admin.token)).toBe(false);
  });

  it("names one's own tenant in any case, and answers ids in their one spelling", async () => {
    const admin = tenant.admin;
    const page = await server.gql(
      'query ($t: ID) { users(tenantId: $t, first: 1) { totalCount } }',
      {
        t: tenant.id.toUpperCase(),
      },
      { token: admin.token },
    );
    expect(page.errors).toBeUndefined();
    const read = ok(
      await server.gql(
        'query ($id: ID!) { user(id: $id) { id tenant { id } } }',
        { id: admin.userId.toUpperCase() },
        {
          token: admin.token,
        },
      ),
    );
    expect(read.user).toEqual({ id: admin.userId, tenant: { id: tenant.id } });
  });
});
