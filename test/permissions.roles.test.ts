import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  CREATE_TENANT,
  CREATE_USER,
  DELETE_USER,
  makeActor,
  makeTenant,
  makeUser,
  makeWorld,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantWorld,
  UNLOCK_USER,
  UPDATE_USER,
  uniqueSlug,
} from './support/fixtures.js';
import { errorCode, type GraphQLResponse, SYSTEM_ADMIN, useTestServer } from './support/server.js';

/**
 * The permission table, row by row, for every role inside one tenant. SYSTEM is an
 * ADMIN of the system tenant acting on that same tenant. 'ok' means the operation did its job.
 */
type Who = 'GUEST' | 'USER' | 'MODERATOR' | 'ADMIN' | 'SYSTEM';
type Outcome = 'ok' | 'FORBIDDEN' | 'NOT_FOUND';
const WHO: Who[] = ['GUEST', 'USER', 'MODERATOR', 'ADMIN', 'SYSTEM'];

const everyone = (): Outcome => 'ok';
const from =
  (lowest: Who) =>
  (who: Who): Outcome =>
    WHO.indexOf(who) >= WHO.indexOf(lowest) ? 'ok' : 'FORBIDDEN';
const systemOnly = (who: Who): Outcome => (who === 'SYSTEM' ? 'ok' : 'FORBIDDEN');

type Run = (by: Actor, who: Who) => Promise<GraphQLResponse>;

describe('permissions: each role inside its own tenant', () => {
  const server = useTestServer();
  let system: Actor;
  let world: TenantWorld;
  const callers = {} as Record<Who, Actor>;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    world = await makeWorld(server, system);
    Object.assign(callers, world.as, { SYSTEM: system });
  });

  const gql = (query: string, variables: Record<string, unknown>, by: Actor) =>
    server.gql(query, variables, { token: by.token });
  /** A caller of this role that the test may sign out or change (the shared ones stay intact). */
  const disposable = async (who: Who): Promise<Actor> => {
    if (who !== 'SYSTEM') return makeActor(server, world, who);
    const user = await makeUser(server, system, { role: 'ADMIN' });
    return signIn(server, server.config.systemTenantSlug, user.email);
  };
  const victim = (role: 'USER' | 'GUEST' = 'USER') => makeUser(server, world.admin, { role });

  const table: [string, (who: Who) => Outcome, Run][] = [
    ['me', everyone, (by) => gql('{ me { id role tenant { id } } }', {}, by)],
    ['mySessions', everyone, (by) => gql('{ mySessions { id current user { id } } }', {}, by)],
    ['logout', everyone, async (_by, who) => gql('mutation { logout }', {}, await disposable(who))],
    ['logoutAll', everyone, async (_by, who) => gql('mutation { logoutAll }', {}, await disposable(who))],
    [
      'revokeSession (own)',
      everyone,
      async (by) => {
        const other = await signIn(
          server,
          by.tenantSlug,
          by.email,
          by === system ? SYSTEM_ADMIN.password : PASSWORD,
        );
        return gql('mutation ($id: ID!) { revokeSession(id: $id) }', { id: other.sessionId }, by);
      },
    ],
    [
      'updateMe',
      from('USER'),
      (by) => gql('mutation { updateMe(input: { displayName: "Me" }) { id } }', {}, by),
    ],
    [
      'changePassword',
      from('USER'),
      async (_by, who) =>
        gql(
          'mutation ($i: ChangePasswordInput!) { changePassword(input: $i) }',
          { i: { currentPassword: PASSWORD, newPassword: 'A whole new passphrase 8!' } },
          await disposable(who),
        ),
    ],
    [
      'user(id)',
      from('MODERATOR'),
      async (by) => gql('query ($id: ID!) { user(id: $id) { id } }', { id: (await victim()).id }, by),
    ],
    [
      'users',
      from('MODERATOR'),
      (by, who) =>
        gql(
          'query ($t: ID) { users { totalCount } a: users(tenantId: $t) { totalCount } }',
          { t: who === 'SYSTEM' ? world.id : undefined },
          by,
        ),
    ],
    [
      'User.sessions of others',
      from('MODERATOR'),
      async (by) => {
        const user = await victim();
        await signIn(server, world.slug, user.email);
        return gql('query ($id: ID!) { user(id: $id) { sessions { id } } }', { id: user.id }, by);
      },
    ],
    [
      'updateUser status of a USER',
      from('MODERATOR'),
      async (by) => gql(UPDATE_USER, { id: (await victim()).id, input: { status: 'SUSPENDED' } }, by),
    ],
    [
      'updateUser status of a GUEST',
      from('MODERATOR'),
      async (by) => gql(UPDATE_USER, { id: (await victim('GUEST')).id, input: { status: 'SUSPENDED' } }, by),
    ],
    [
      'updateUser role',
      from('ADMIN'),
      async (by) => gql(UPDATE_USER, { id: (await victim()).id, input: { role: 'GUEST' } }, by),
    ],
    [
      'updateUser displayName',
      from('ADMIN'),
      async (by) => gql(UPDATE_USER, { id: (await victim()).id, input: { displayName: 'Z' } }, by),
    ],
    [
      'createUser',
      from('ADMIN'),
      (by) =>
        gql(
          CREATE_USER,
          { input: { email: `${uniqueSlug('c')}@x.test`, password: PASSWORD, tenantId: world.id } },
          by,
        ),
    ],
    ['deleteUser', from('ADMIN'), async (by) => gql(DELETE_USER, { id: (await victim()).id }, by)],
    ['unlockUser', from('MODERATOR'), async (by) => gql(UNLOCK_USER, { id: (await victim()).id }, by)],
    [
      "revokeSession (another user's)",
      (who) => (who === 'ADMIN' || who === 'SYSTEM' ? 'ok' : 'NOT_FOUND'),
      async (by) => {
        const other = await signIn(server, world.slug, (await victim()).email);
        return gql('mutation ($id: ID!) { revokeSession(id: $id) }', { id: other.sessionId }, by);
      },
    ],
    [
      'tenant: id, slug, name, status',
      everyone,
      (by) => gql('query ($id: ID) { tenant(id: $id) { id slug name status } }', { id: world.id }, by),
    ],
    [
      'Tenant.settings',
      from('ADMIN'),
      (by) =>
        gql('query ($id: ID) { tenant(id: $id) { settings { passwordMinLength } } }', { id: world.id }, by),
    ],
    [
      'Tenant.stats',
      from('ADMIN'),
      (by) => gql('query ($id: ID) { tenant(id: $id) { stats { totalUsers } } }', { id: world.id }, by),
    ],
    [
      'updateTenant name and settings',
      from('ADMIN'),
      (by) =>
        gql(
          'mutation ($id: ID!) { updateTenant(id: $id, input: { name: "N", settings: { lockoutMinutes: 20 } }) { id } }',
          { id: world.id },
          by,
        ),
    ],
    [
      'updateTenant status',
      systemOnly,
      (by) =>
        gql(
          'mutation ($id: ID!) { updateTenant(id: $id, input: { status: ACTIVE }) { id } }',
          { id: world.id },
          by,
        ),
    ],
    ['tenants', systemOnly, (by) => gql('{ tenants { totalCount } }', {}, by)],
    [
      'createTenant',
      systemOnly,
      (by) => {
        const slug = uniqueSlug();
        return gql(
          CREATE_TENANT,
          { input: { slug, name: slug, adminEmail: `a@${slug}.test`, adminPassword: PASSWORD } },
          by,
        );
      },
    ],
    [
      'deleteTenant',
      systemOnly,
      async (by) =>
        gql(
          'mutation ($id: ID!) { deleteTenant(id: $id) }',
          { id: (await makeTenant(server, system)).id },
          by,
        ),
    ],
  ];

  for (const [operation, expected, run] of table) {
    for (const who of WHO) {
      it(`${operation} as ${who}: ${expected(who)}`, async () => {
        const response = await run(callers[who], who);
        const outcome = errorCode(response) ?? 'ok';
        expect(outcome, JSON.stringify(response.errors)).toBe(expected(who));
        if (outcome === 'ok') {
          // Doing its job: every top-level answer is there and non-null.
          for (const value of Object.values(response.data ?? {})) expect(value).not.toBeNull();
        }
      });
    }
  }

  it('answers UNAUTHENTICATED to anonymous callers everywhere but the public fields', async () => {
    // A real GUEST for each operation's set-up (which must succeed), whose request then goes
    // out without a token. logout, logoutAll and changePassword send a disposable caller's own.
    const anonymous: Actor = { ...callers.GUEST, token: '' };
    const swept: string[] = [];
    for (const [operation, , run] of table) {
      if (['logout', 'logoutAll', 'changePassword'].includes(operation)) continue;
      const response = await run(anonymous, 'GUEST');
      expect(errorCode(response), operation).toBe('UNAUTHENTICATED');
      swept.push(operation);
    }
    expect(swept).toHaveLength(table.length - 3);
    const info = await server.gql('query ($s: String!) { tenantInfo(slug: $s) { name } }', { s: world.slug });
    expect(info.data?.tenantInfo).toEqual({ name: expect.any(String) });
  });
});
