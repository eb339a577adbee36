import { randomUUID } from 'node:crypto';
import {
  buildClientSchema,
  type GraphQLInputType,
  type GraphQLSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { authenticateUser } from '../src/app/context.js';
import { ForbiddenError } from '../src/kernel/errors.js';
import { updateMe } from '../src/modules/auth/account.service.js';
import { revokeSession } from '../src/modules/sessions/sessions.service.js';
import {
  createTenant,
  deleteTenant,
  listAllTenants,
  updateTenant,
} from '../src/modules/tenants/tenants.service.js';
import { assertModeratorMayUpdate } from '../src/modules/users/users.access.js';
import {
  createUser,
  deleteUser,
  listTenantUsers,
  unlockUser,
  updateUser,
} from '../src/modules/users/users.service.js';
import {
  type Actor,
  makeActor,
  makeTenant,
  makeUser,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import { type GraphQLResponse, type TestServer, useTestServer } from './support/server.js';

/**
 * The caller of an operation is fixed when it starts: a sign-in inside a document answers with
 * its tokens (and its own user and session), but the fields after it still run as the caller the
 * operation started with. Over real HTTP, as an attacker would send it.
 */
describe('security: a sign-in never changes the caller of its operation', () => {
  const server = useTestServer();
  let system: Actor;
  let tenantA: TenantHandle;
  let tenantB: TenantHandle;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    [tenantA, tenantB] = await Promise.all([makeTenant(server, system), makeTenant(server, system)]);
  });

  const settingsOf = async (tenantId: string) =>
    ok(
      await server.gql(
        'query ($id: ID) { tenant(id: $id) { settings { defaultRole maxFailedLogins } } }',
        {
          id: tenantId,
        },
        { token: system.token },
      ),
    ).tenant.settings;
  const statusOf = async (userId: string) =>
    ok(
      await server.gql(
        'query ($id: ID!) { user(id: $id) { status } }',
        { id: userId },
        { token: system.token },
      ),
    ).user.status;
  const errorAt = (response: GraphQLResponse, key: string) =>
    response.errors?.find((error) => error.path?.[0] === key)?.extensions?.code;

  it("refuses the published attack: tenant A's ADMIN signs in as a USER of B and acts in B", async () => {
    const userOfB = await makeUser(server, tenantB.admin, { role: 'USER' });
    const victim = await makeUser(server, tenantB.admin, { role: 'USER' });
    const before = await settingsOf(tenantB.id);

    const response = await server.gql(
      `mutation Attack($a: ID!, $self: ID!, $b: ID!, $victim: ID!, $login: LoginInput!) {
        own: updateTenant(id: $a, input: { name: "Tenant A, renamed" }) { id name }
        unlock: unlockUser(id: $self) { id }
        login(input: $login) { accessToken user { id role tenant { id } } session { current } }
        takeover: updateTenant(id: $b, input: { settings: { defaultRole: MODERATOR, maxFailedLogins: 100 } }) {
          id settings { defaultRole maxFailedLogins }
        }
        suspend: updateUser(id: $victim, input: { status: SUSPENDED }) { id status }
      }`,
      {
        a: tenantA.id,
        self: tenantA.admin.userId,
        b: tenantB.id,
        victim: victim.id,
        login: { tenant: tenantB.slug, email: userOfB.email, password: PASSWORD },
      },
      { token: tenantA.admin.token },
    );

    // The fields before the sign-in ran as A's ADMIN; the sign-in itself worked and describes
    // its own user and session; the field after it still ran as A's ADMIN, who cannot reach B.
    expect(response.errors?.map((e) => e.path?.[0])).toEqual(['takeover']);
    expect(errorAt(response, 'takeover')).toBe('NOT_FOUND');
    expect(await settingsOf(tenantB.id)).toEqual(before);
    expect(await statusOf(victim.id)).toBe('ACTIVE');
    const [tenantAName] = await Promise.all([
      server.gql('query ($id: ID) { tenant(id: $id) { name } }', { id: tenantA.id }, { token: system.token }),
    ]);
    expect(ok(tenantAName).tenant.name).toBe('Tenant A, renamed');

    // The last field alone after the sign-in (it never ran above: a failed non-null mutation field
    // ends the operation) is refused in the same way.
    const suspend = await server.gql(
      `mutation ($victim: ID!, $login: LoginInput!) {
        login(input: $login) { user { id } session { current } }
        suspend: updateUser(id: $victim, input: { status: SUSPENDED }) { id status }
      }`,
      { victim: victim.id, login: { tenant: tenantB.slug, email: userOfB.email, password: PASSWORD } },
      { token: tenantA.admin.token },
    );
    expect(errorAt(suspend, 'suspend')).toBe('NOT_FOUND');
    expect(await statusOf(victim.id)).toBe('ACTIVE');
  });

  it("answers a sign-in with its own user and session, whoever the operation's caller is", async () => {
    const moderatorOfB = await makeActor(server, tenantB, 'MODERATOR');
    const response = await server.gql(
      `mutation ($login: LoginInput!) {
        login(input: $login) {
          user { id role lockedUntil tenant { id settings { defaultRole } } sessions { id current } }
          session { id current }
        }
      }`,
      { login: { tenant: tenantB.slug, email: tenantB.admin.email, password: PASSWORD } },
      { token: moderatorOfB.token },
    );
    const { login } = ok(response);
    expect(login.user.id).toBe(tenantB.admin.userId);
    expect(login.user.tenant.settings.defaultRole).toBeDefined();
    expect(login.session.current).toBe(true);
    expect(login.user.sessions.filter((s: { current: boolean }) => s.current)).toEqual([
      { id: login.session.id, current: true },
    ]);
  });

  it('keeps a lower caller lower after a sign-in as a higher one (USER, then ADMIN of the same tenant)', async () => {
    const user = await makeActor(server, tenantA, 'USER');
    const target = await makeUser(server, tenantA.admin, { role: 'USER' });
    const response = await server.gql(
      `mutation ($login: LoginInput!, $id: ID!) {
        login(input: $login) { accessToken }
        promote: updateUser(id: $id, input: { role: MODERATOR }) { id role }
      }`,
      { login: { tenant: tenantA.slug, email: tenantA.admin.email, password: PASSWORD }, id: target.id },
      { token: user.token },
    );
    expect(errorAt(response, 'promote')).toBe('FORBIDDEN');
    const unlock = await server.gql(
      `mutation ($login: LoginInput!, $id: ID!) {
        login(input: $login) { accessToken }
        unlock: unlockUser(id: $id) { id }
      }`,
      { login: { tenant: tenantA.slug, email: tenantA.admin.email, password: PASSWORD }, id: target.id },
      { token: user.token },
    );
    expect(errorAt(unlock, 'unlock')).toBe('FORBIDDEN');
  });
});

/**
 * The generic guard: for EVERY mutation of the schema (read from the running server, so a
 * mutation added later is covered without touching this test), a sign-in earlier in the same
 * document — by login, register or refresh, as a system ADMIN or a MODERATOR — must not change
 * what that mutation is allowed to do. The mutation is sent once alone and once after the
 * sign-in, by the same caller (anonymous, or a GUEST), and must get the same answer.
 */
describe('security: every mutation answers the same with or without a sign-in before it', () => {
  const server = useTestServer();
  let schema: GraphQLSchema;
  let world: TenantHandle;
  let openTenant: TenantHandle;
  let guestEmail: string;

  beforeAll(async () => {
    const system = await signInSystemAdmin(server);
    world = await makeTenant(server, system);
    openTenant = await makeTenant(server, system, {
      settings: { allowSelfRegistration: true, defaultRole: 'MODERATOR' },
    });
    guestEmail = (await makeUser(server, world.admin, { role: 'GUEST' })).email;
    const introspection = await server.gql(getIntrospectionQuery());
    schema = buildClientSchema(ok(introspection) as never);
  });

  /** A literal of an input type with every required field filled with a harmless value. */
  function literal(type: GraphQLInputType): string {
    if (isNonNullType(type)) return literal(type.ofType);
    if (isListType(type)) return `[${literal(type.ofType)}]`;
    if (isEnumType(type)) return type.getValues()[0]?.name ?? 'null';
    if (isInputObjectType(type)) {
      const fields = Object.values(type.getFields()).filter((f) => isNonNullType(f.type));
      return `{ ${fields.map((f) => `${f.name}: ${literal(f.type)}`).join(', ')} }`;
    }
    if (isScalarType(type)) {
      switch (type.name) {
        case 'ID':
          return JSON.stringify(randomUUID());
        case 'Int':
        case 'Float':
          return '1';
        case 'Boolean':
          return 'false';
        case 'DateTime':
          return JSON.stringify(new Date().toISOString());
        default:
          return JSON.stringify('guard-value');
      }
    }
    throw new Error(`no literal for ${String(type)}`);
  }

  function call(alias: string, name: string): string {
    const field = schema.getMutationType()?.getFields()[name];
    if (!field) throw new Error(`no mutation ${name}`);
    const args = field.args.filter((arg) => isNonNullType(arg.type));
    const argList = args.length > 0 ? `(${args.map((a) => `${a.name}: ${literal(a.type)}`).join(', ')})` : '';
    const selection = isObjectType(getNamedType(field.type)) ? ' { __typename }' : '';
    return `${alias}: ${name}${argList}${selection}`;
  }

  /** A sign-in by a caller far above the one the operation started with, as a document field. */
  const signIns: Record<string, () => Promise<string>> = {
    'login as system ADMIN': async () =>
      `login(input: { tenant: ${JSON.stringify(server.config.systemTenantSlug)}, email: "root@system.test", password: "correct horse battery staple 42" }) { accessToken }`,
    'refresh of a system ADMIN session': async () => {
      const response = await server.gql(
        `mutation { login(input: { tenant: ${JSON.stringify(server.config.systemTenantSlug)}, email: "root@system.test", password: "correct horse battery staple 42" }) { refreshToken } }`,
      );
      return `refresh(input: { refreshToken: ${JSON.stringify(ok(response).login.refreshToken)} }) { accessToken }`;
    },
    'register as a MODERATOR': async () =>
      `register(input: { tenant: ${JSON.stringify(openTenant.slug)}, email: "${randomUUID()}@example.test", password: ${JSON.stringify(PASSWORD)} }) { accessToken }`,
  };

  const callers: Record<string, () => Promise<string | undefined>> = {
    anonymous: async () => undefined,
    GUEST: async () => (await signIn(server, world.slug, guestEmail)).token,
  };

  const outcome = (response: GraphQLResponse, key: string) => {
    const error = response.errors?.find((e) => e.path?.[0] === key);
    return error ? String(error.extensions?.code) : 'ok';
  };

  it('walks every mutation of the schema', async () => {
    const mutations = Object.keys(schema.getMutationType()?.getFields() ?? {});
    // The schema this guard walks is the real one (the known mutations are all there).
    expect(mutations).toEqual(
      expect.arrayContaining(['login', 'updateTenant', 'updateUser', 'deleteTenant']),
    );
    const differences: string[] = [];
    for (const name of mutations) {
      for (const [callerName, tokenFor] of Object.entries(callers)) {
        for (const [signInName, signInField] of Object.entries(signIns)) {
          // A fresh token for each of the two sends: a mutation such as logout ends the session.
          const alone = await server.gql(
            `mutation { ${call('target', name)} }`,
            {},
            { token: await tokenFor() },
          );
          const document = `mutation { signIn: ${await signInField()} ${call('target', name)} }`;
          const after = await server.gql(document, {}, { token: await tokenFor() });
          expect(outcome(after, 'signIn'), `${signInName}: ${JSON.stringify(after.errors)}`).toBe('ok');
          const [before, later] = [outcome(alone, 'target'), outcome(after, 'target')];
          if (before !== later)
            differences.push(`${name} by ${callerName} after ${signInName}: ${before} -> ${later}`);
        }
      }
    }
    expect(differences).toEqual([]);
    // Every mutation of the schema times every caller and sign-in: it grows with the schema.
  }, 240_000);
});

/**
 * Defence in depth: each service that acts re-checks the role and tenant rule itself against the
 * caller it is handed, so it refuses even when called past the schema's permission layer.
 */
describe('security: services re-check the rules the schema enforces', () => {
  const server = useTestServer();
  let system: Actor;
  let tenant: TenantHandle;
  let other: TenantHandle;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    [tenant, other] = await Promise.all([makeTenant(server, system), makeTenant(server, system)]);
  });

  it('refuses callers below the rule in every administrative service', async () => {
    const services = server.app.services;
    const origin = { ip: null, userAgent: null };
    const asCaller = async (actor: Actor) => authenticateUser(services, actor.token);
    const user = await asCaller(await makeActor(server, tenant, 'USER'));
    const guest = await asCaller(await makeActor(server, tenant, 'GUEST'));
    const moderator = await asCaller(await makeActor(server, tenant, 'MODERATOR'));
    const admin = await asCaller(tenant.admin);
    const target = await makeUser(server, tenant.admin, { role: 'USER' });
    const attempts: [string, () => Promise<unknown>][] = [
      ['updateTenant by a USER', () => updateTenant(services, user, tenant.id, { name: 'x' }, origin)],
      [
        'updateTenant by a MODERATOR',
        () => updateTenant(services, moderator, tenant.id, { name: 'x' }, origin),
      ],
      ['createTenant by a tenant ADMIN', () => createTenant(services, admin, {} as never, origin)],
      ['deleteTenant by a tenant ADMIN', () => deleteTenant(services, admin, other.id, origin)],
      ['listAllTenants by a tenant ADMIN', () => listAllTenants(services, admin, {})],
      [
        'updateUser (status) by a USER',
        () => updateUser(services, user, target.id, { status: 'SUSPENDED' }, origin),
      ],
      [
        'updateUser (status) by a GUEST',
        () => updateUser(services, guest, target.id, { status: 'SUSPENDED' }, origin),
      ],
      [
        'createUser by a MODERATOR',
        () => createUser(services, moderator, { email: 'a@b.test', password: PASSWORD }, origin),
      ],
      [
        'createUser in another tenant',
        () =>
          createUser(services, admin, { email: 'a@b.test', password: PASSWORD, tenantId: other.id }, origin),
      ],
      ['deleteUser by a MODERATOR', () => deleteUser(services, moderator, target.id, origin)],
      ['unlockUser by a USER', () => unlockUser(services, user, target.id, origin)],
      ['listTenantUsers by a USER', () => listTenantUsers(services, user, tenant.id, {})],
      ['listTenantUsers of another tenant', () => listTenantUsers(services, admin, other.id, {})],
      ['updateMe by a GUEST', () => updateMe(services, guest, { displayName: 'x' }, origin)],
    ];
    const refused: Record<string, string | undefined> = {};
    for (const [what, attempt] of attempts) {
      refused[what] = await Promise.resolve()
        .then(attempt)
        .then(
          () => 'allowed',
          (error: { extensions?: { code?: string } }) => error.extensions?.code,
        );
    }
    expect(refused).toEqual(Object.fromEntries(attempts.map(([what]) => [what, 'FORBIDDEN'])));
    expect(await statusOfUser(server, system, target.id)).toBe('ACTIVE');

    // assertModeratorMayUpdate used to let anyone below MODERATOR through.
    expect(() => assertModeratorMayUpdate(user, ['status'], { role: 'GUEST' })).toThrow(ForbiddenError);
    expect(() => assertModeratorMayUpdate(moderator, ['status'], { role: 'USER' })).not.toThrow();
  });

  it("limits revokeSession to one's own sessions below ADMIN, whatever the caller claims to be", async () => {
    const services = server.app.services;
    const moderator = await makeActor(server, tenant, 'MODERATOR');
    const victim = await makeActor(server, tenant, 'USER');
    const caller = await authenticateUser(services, moderator.token);
    await expect(
      revokeSession(services, caller, { ip: null, userAgent: null }, victim.sessionId),
    ).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    expect(await tokenStillWorks(server, victim.token)).toBe(true);
  });
});

async function statusOfUser(server: TestServer, system: Actor, id: string): Promise<string> {
  return ok(
    await server.gql('query ($id: ID!) { user(id: $id) { status } }', { id }, { token: system.token }),
  ).user.status;
}

async function tokenStillWorks(server: TestServer, token: string): Promise<boolean> {
  const response = await server.gql('{ me { id } }', {}, { token });
  return response.status === 200 && !response.errors;
}
