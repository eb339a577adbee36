import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  countStatements,
  DELETE_USER,
  makeTenant,
  makeUser,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  UNLOCK_USER,
  UPDATE_USER,
} from './support/fixtures.js';
import {
  errorCode,
  type GraphQLResponse,
  startTestServer,
  type TestServer,
  useTestServer,
} from './support/server.js';

/**
 * Two instances of one deployment (same database, same Redis prefix), each with its in-process
 * cache in front of Redis. After a write through A answers, a read through B never sees the old
 * value — while B's reads of unchanged rows do not touch PostgreSQL at all.
 */

const a = useTestServer();
let b: TestServer;
let system: Actor;
let tenant: TenantHandle;

beforeAll(async () => {
  b = await startTestServer({}, { database: a.testDatabase });
  await waitUntilCaching();
  system = await signInSystemAdmin(a);
  tenant = await makeTenant(a, system, { settings: { maxFailedLogins: 3 } });
});
afterAll(async () => {
  await b?.close();
});

async function waitUntilCaching() {
  for (let i = 0; i < 100 && ![a, b].every((s) => s.app.services.cache.localCaching); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect([a, b].map((s) => s.app.services.cache.localCaching)).toEqual([true, true]);
}

const ME = '{ me { id displayName email role status updatedAt tenant { name } } }';
const USER = 'query ($id: ID!) { user(id: $id) { id displayName role status lockedUntil lastLoginAt } }';
const UPDATE_TENANT = `mutation ($id: ID!, $input: UpdateTenantInput!) {
  updateTenant(id: $id, input: $input) { id name status }
}`;

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
type Data = Record<string, any>;

/** B's answer, read twice: the second time entirely from B's cache (no SQL at all). */
async function cachedOnB(query: string, variables: Record<string, unknown>, by: Actor): Promise<Data> {
  ok(await b.gql(query, variables, { token: by.token }));
  let answer: GraphQLResponse<Data> | undefined;
  const statements = await countStatements(b, async () => {
    answer = await b.gql(query, variables, { token: by.token });
  });
  expect(statements, 'a read of unchanged rows must be served from the cache').toBe(0);
  return ok(answer as NonNullable<typeof answer>);
}

async function userOf(role: 'USER' | 'MODERATOR' = 'USER') {
  const created = await makeUser(a, tenant.admin, { role });
  return { ...created, actor: await signIn(a, tenant.slug, created.email) };
}

describe('a write through one instance', () => {
  it("updateMe, changePassword: B's me shows the new profile at once", async () => {
    const { actor } = await userOf();
    expect((await cachedOnB(ME, {}, actor)).me.displayName).toBeNull();
    ok(
      await a.gql(
        'mutation { updateMe(input: { displayName: "Fresh name" }) { id } }',
        {},
        { token: actor.token },
      ),
    );
    expect(ok(await b.gql(ME, {}, { token: actor.token })).me.displayName).toBe('Fresh name');

    const before = (await cachedOnB(ME, {}, actor)).me.updatedAt;
    a.clock.advance(1_000);
    ok(
      await a.gql(
        'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
        { input: { currentPassword: PASSWORD, newPassword: `${PASSWORD} again` } },
        { token: actor.token },
      ),
    );
    expect(ok(await b.gql(ME, {}, { token: actor.token })).me.updatedAt).not.toBe(before);
  });

  it("updateUser: a role change holds on B at the user's very next request; a suspension stops the token", async () => {
    const { id, actor } = await userOf();
    expect((await cachedOnB(ME, {}, actor)).me.role).toBe('USER');
    expect(errorCode(await b.gql('{ users { totalCount } }', {}, { token: actor.token }))).toBe('FORBIDDEN');
    ok(await a.gql(UPDATE_USER, { id, input: { role: 'MODERATOR' } }, { token: tenant.admin.token }));
    expect(ok(await b.gql(ME, {}, { token: actor.token })).me.role).toBe('MODERATOR');
    expect(
      ok(await b.gql('{ users { totalCount } }', {}, { token: actor.token })).users.totalCount,
    ).toBeGreaterThan(1);

    ok(await a.gql(UPDATE_USER, { id, input: { status: 'SUSPENDED' } }, { token: tenant.admin.token }));
    expect((await b.gql(ME, {}, { token: actor.token })).status).toBe(401);
  });

  it('lockout, unlock and sign-in: lockedUntil and lastLoginAt as a MODERATOR on B sees them', async () => {
    const { id, email } = await makeUser(a, tenant.admin); // never signed in
    const moderator = (await userOf('MODERATOR')).actor;
    const seen = async () => ok(await b.gql(USER, { id }, { token: moderator.token })).user;
    expect((await cachedOnB(USER, { id }, moderator)).user.lockedUntil).toBeNull();
    for (let i = 0; i < 3; i++) {
      await a.gql('mutation ($input: LoginInput!) { login(input: $input) { accessToken } }', {
        input: { tenant: tenant.slug, email, password: 'wrong wrong wrong 1' },
      });
    }
    expect((await seen()).lockedUntil).not.toBeNull();
    ok(await a.gql(UNLOCK_USER, { id }, { token: moderator.token }));
    expect((await seen()).lockedUntil).toBeNull();
    expect((await cachedOnB(USER, { id }, moderator)).user.lastLoginAt).toBeNull();
    await signIn(a, tenant.slug, email);
    expect((await seen()).lastLoginAt).not.toBeNull();
  });

  it('deleteUser: B no longer finds the user, and refuses their token', async () => {
    const { id, actor } = await userOf();
    expect((await cachedOnB(USER, { id }, tenant.admin)).user.id).toBe(id);
    ok(await a.gql(DELETE_USER, { id }, { token: tenant.admin.token }));
    expect(ok(await b.gql(USER, { id }, { token: tenant.admin.token })).user).toBeNull();
    expect((await b.gql(ME, {}, { token: actor.token })).status).toBe(401);
  });

  it('updateTenant and deleteTenant: B shows the new name, refuses a suspended or deleted tenant', async () => {
    const other = await makeTenant(a, system);
    expect((await cachedOnB(ME, {}, other.admin)).me.tenant.name).toBe(`Tenant ${other.slug}`);
    ok(
      await a.gql(
        UPDATE_TENANT,
        { id: other.id, input: { name: 'Renamed on A' } },
        { token: other.admin.token },
      ),
    );
    expect(ok(await b.gql(ME, {}, { token: other.admin.token })).me.tenant.name).toBe('Renamed on A');

    ok(await a.gql(UPDATE_TENANT, { id: other.id, input: { status: 'SUSPENDED' } }, { token: system.token }));
    expect((await b.gql(ME, {}, { token: other.admin.token })).status).toBe(401);
    ok(await a.gql(UPDATE_TENANT, { id: other.id, input: { status: 'ACTIVE' } }, { token: system.token }));
    const back = await signIn(b, other.slug, other.admin.email);
    expect((await cachedOnB(ME, {}, back)).me.tenant.name).toBe('Renamed on A');
    ok(
      await a.gql('mutation ($id: ID!) { deleteTenant(id: $id) }', { id: other.id }, { token: system.token }),
    );
    expect((await b.gql(ME, {}, { token: back.token })).status).toBe(401);
    expect(
      ok(await b.gql('query ($id: ID) { tenant(id: $id) { id } }', { id: other.id }, { token: system.token }))
        .tenant,
    ).toBeNull();
  });
});

describe('tenant isolation of the cache', () => {
  it("keys every entry by its tenant, and never answers one tenant's lookup with another's row", async () => {
    const other = await makeTenant(a, system);
    const foreign = await makeUser(a, other.admin);
    // The foreign user is cached (read by their own ADMIN), then looked up by this tenant's ADMIN.
    expect((await cachedOnB(USER, { id: foreign.id }, other.admin)).user.id).toBe(foreign.id);
    expect(ok(await b.gql(USER, { id: foreign.id }, { token: tenant.admin.token })).user).toBeNull();

    const redis = new Redis(a.config.redis.url ?? '');
    try {
      const keys = await redis.keys(`${a.config.redis.keyPrefix}c:*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys)
        expect(key).toMatch(/^[^{]*c:\{[0-9a-f-]{36}\}:(user|tenant|session):[0-9a-f-]{36}(:v)?$/);
      const userKey = keys.find((key) => key.endsWith(`:user:${foreign.id}`));
      expect(userKey).toContain(`{${other.id}}`);
      // No password hash ever reaches Redis.
      const value = JSON.parse((await redis.get(userKey ?? '')) ?? '{}');
      expect(value.v.email).toBe(foreign.email);
      expect(value.v).not.toHaveProperty('passwordHash');
    } finally {
      redis.disconnect();
    }
  });
});

describe('confirmations between instances', () => {
  it("lets a writer answer once the other instance confirms, even before Redis' own reply arrives", async () => {
    const bus = a.app.services.cache.bus;
    const redis = a.app.services.cache.shared?.redis;
    if (!redis) throw new Error('the test servers run with Redis');
    // A busy connection: tens of megabytes of replies queued ahead of PUBLISH's reply, while B's
    // confirmation comes in on the other (subscriber) connection long before that reply does.
    const key = `${a.config.redis.keyPrefix}test:large-value`;
    await redis.set(key, 'x'.repeat(1 << 20));
    const backlog = Promise.all(Array.from({ length: 40 }, () => redis.get(key)));
    const unconfirmedBefore = bus.unconfirmed;
    await bus.publish([{ kind: 'keys', entity: 'user', tenantId: tenant.id, ids: [randomUUID()] }]);
    await backlog;
    await redis.del(key);
    // A confirmation that went missing would make its writer wait out the whole deadline and
    // count as unconfirmed; how long that took depends on the machine, so the count is asserted.
    expect(bus.unconfirmed).toBe(unconfirmedBefore);
  });
});
