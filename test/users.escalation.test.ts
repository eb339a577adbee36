import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  DELETE_USER,
  makeActor,
  makeTenant,
  makeUser,
  makeWorld,
  ok,
  type Role,
  signInSystemAdmin,
  type TenantWorld,
  tokenWorks,
  UNLOCK_USER,
  UPDATE_USER,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const READ = 'query ($id: ID!) { user(id: $id) { role status displayName } }';

describe('users: escalation and the last ADMIN', () => {
  const server = useTestServer();
  let system: Actor;
  let world: TenantWorld;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    world = await makeWorld(server, system);
  });

  const gql = (query: string, variables: Record<string, unknown>, by: Actor) =>
    server.gql(query, variables, { token: by.token });
  const read = async (id: string) => ok(await gql(READ, { id }, world.admin)).user;
  const activeAdmins = async (tenantId: string) =>
    ok(
      await gql(
        'query ($t: ID) { users(tenantId: $t, filter: { role: ADMIN, status: ACTIVE }) { totalCount } }',
        { t: tenantId },
        system,
      ),
    ).users.totalCount;

  it('lets a MODERATOR change the status of USERs and GUESTs, and nothing else', async () => {
    const moderator = world.as.MODERATOR;
    for (const role of ['USER', 'GUEST'] as Role[]) {
      const target = await makeUser(server, world.admin, { role });
      ok(await gql(UPDATE_USER, { id: target.id, input: { status: 'SUSPENDED' } }, moderator));
      expect((await read(target.id)).status).toBe('SUSPENDED');
      const rename = await gql(UPDATE_USER, { id: target.id, input: { displayName: 'X' } }, moderator);
      expect(errorCode(rename)).toBe('FORBIDDEN');
      const promote = await gql(UPDATE_USER, { id: target.id, input: { role: 'MODERATOR' } }, moderator);
      expect(errorCode(promote)).toBe('FORBIDDEN');
      expect(await read(target.id)).toMatchObject({ role, displayName: null });
    }
    for (const role of ['MODERATOR', 'ADMIN'] as Role[]) {
      const target = await makeUser(server, world.admin, { role });
      const suspend = await gql(UPDATE_USER, { id: target.id, input: { status: 'SUSPENDED' } }, moderator);
      expect(errorCode(suspend)).toBe('FORBIDDEN');
      expect((await read(target.id)).status).toBe('ACTIVE');
    }
  });

  it('lets a MODERATOR unlock users up to their own role, but not an ADMIN', async () => {
    for (const role of ['GUEST', 'USER', 'MODERATOR'] as Role[]) {
      const target = await makeUser(server, world.admin, { role });
      expect(errorCode(await gql(UNLOCK_USER, { id: target.id }, world.as.MODERATOR))).toBeUndefined();
    }
    const admin = await makeUser(server, world.admin, { role: 'ADMIN' });
    expect(errorCode(await gql(UNLOCK_USER, { id: admin.id }, world.as.MODERATOR))).toBe('FORBIDDEN');
  });

  it('refuses user administration to USERs and GUESTs', async () => {
    const target = await makeUser(server, world.admin, { role: 'GUEST' });
    for (const role of ['USER', 'GUEST'] as Role[]) {
      const by = world.as[role];
      expect(errorCode(await gql(UPDATE_USER, { id: target.id, input: { status: 'SUSPENDED' } }, by))).toBe(
        'FORBIDDEN',
      );
      expect(errorCode(await gql(UNLOCK_USER, { id: target.id }, by))).toBe('FORBIDDEN');
      expect(errorCode(await gql(DELETE_USER, { id: target.id }, by))).toBe('FORBIDDEN');
    }
    expect((await read(target.id)).status).toBe('ACTIVE');
  });

  it('never lets updateMe touch role, status or tenant', async () => {
    for (const field of ['role: ADMIN', 'status: SUSPENDED', 'tenantId: "x"']) {
      const response = await gql(`mutation { updateMe(input: { ${field} }) { id } }`, {}, world.as.USER);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
    }
    expect(ok(await gql('{ me { role status } }', {}, world.as.USER)).me).toEqual({
      role: 'USER',
      status: 'ACTIVE',
    });
  });

  it('keeps the last active ADMIN: no demotion, suspension or deletion, even of oneself', async () => {
    const tenant = await makeTenant(server, system);
    const only = tenant.admin;
    const attempts = [
      [UPDATE_USER, { id: only.userId, input: { role: 'MODERATOR' } }],
      [UPDATE_USER, { id: only.userId, input: { status: 'SUSPENDED' } }],
      [DELETE_USER, { id: only.userId }],
    ] as const;
    for (const by of [only, system]) {
      for (const [query, variables] of attempts) {
        const response = await gql(query, variables, by);
        expect(errorCode(response)).toBe('FORBIDDEN');
        expect(response.errors?.[0]?.message).toMatch(/last active ADMIN/);
      }
    }
    expect(await tokenWorks(server, only.token)).toBe(true);
    // A suspended ADMIN does not count; a second active one does.
    const suspended = await makeUser(server, only, { role: 'ADMIN' });
    ok(await gql(UPDATE_USER, { id: suspended.id, input: { status: 'SUSPENDED' } }, only));
    expect(errorCode(await gql(UPDATE_USER, { id: only.userId, input: { role: 'USER' } }, only))).toBe(
      'FORBIDDEN',
    );
    ok(await gql(UPDATE_USER, { id: suspended.id, input: { status: 'ACTIVE' } }, only));
    ok(await gql(UPDATE_USER, { id: only.userId, input: { role: 'USER' } }, only));
    expect(errorCode(await gql(DELETE_USER, { id: suspended.id }, system))).toBe('FORBIDDEN');
  });

  it('refuses the system tenant its last ADMIN too', async () => {
    const response = await gql(UPDATE_USER, { id: system.userId, input: { role: 'USER' } }, system);
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(await tokenWorks(server, system.token)).toBe(true);
  });

  it('lets only one of two concurrent demotions of the last two ADMINs through', async () => {
    for (let round = 0; round < 5; round++) {
      const tenant = await makeTenant(server, system);
      const second = await makeActor(server, tenant, 'ADMIN');
      const answers = await Promise.all([
        gql(UPDATE_USER, { id: second.userId, input: { role: 'USER' } }, tenant.admin),
        gql(UPDATE_USER, { id: tenant.admin.userId, input: { status: 'SUSPENDED' } }, second),
      ]);
      expect(answers.map(errorCode).sort()).toEqual(['FORBIDDEN', undefined].sort());
      expect(await activeAdmins(tenant.id)).toBe(1);
    }
  });

  it('lets only one of two concurrent deletions of the last two ADMINs through', async () => {
    const tenant = await makeTenant(server, system);
    const second = await makeActor(server, tenant, 'ADMIN');
    const answers = await Promise.all([
      gql(DELETE_USER, { id: second.userId }, system),
      gql(DELETE_USER, { id: tenant.admin.userId }, system),
    ]);
    expect(answers.map(errorCode).sort()).toEqual(['FORBIDDEN', undefined].sort());
    expect(await activeAdmins(tenant.id)).toBe(1);
  });
});
