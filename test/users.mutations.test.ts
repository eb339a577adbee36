import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { sessions, users } from '../src/db/schema.js';
import {
  type Actor,
  auditedFields,
  auditTrail,
  CREATE_USER,
  DELETE_USER,
  fieldsOf,
  makeActor,
  makeTenant,
  makeUser,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  tokenWorks,
  UNLOCK_USER,
  UPDATE_USER,
  uniqueSlug,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }';

describe('users: create, update, delete, unlock', () => {
  const server = useTestServer();
  let system: Actor;
  let tenant: TenantHandle;
  let admin: Actor;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    tenant = await makeTenant(server, system, { settings: { defaultRole: 'GUEST', maxFailedLogins: 2 } });
    admin = tenant.admin;
  });

  const gql = (query: string, variables: Record<string, unknown>, by: Actor = admin) =>
    server.gql(query, variables, { token: by.token });
  const login = (email: string, password = PASSWORD) =>
    server.gql(LOGIN, { input: { tenant: tenant.slug, email, password } });

  it("creates a user with the tenant's default role, who can then sign in; audited", async () => {
    const email = `${uniqueSlug('new')}@example.test`;
    const created = ok(
      await gql(CREATE_USER, { input: { email: `  ${email} `, password: PASSWORD, displayName: ' New ' } }),
    );
    expect(created.createUser).toMatchObject({
      email,
      displayName: 'New',
      role: 'GUEST',
      status: 'ACTIVE',
      tenant: { id: tenant.id },
    });
    expect(errorCode(await login(email))).toBeUndefined();
    const events = await auditTrail(server, tenant.id, 'user.created');
    const event = events.find((e) => e.targetId === created.createUser.id);
    expect(event).toMatchObject({ actorId: admin.userId, metadata: { role: 'GUEST' } });
  });

  it('validates every field at once, never echoing the password, and creates nothing', async () => {
    const password = 'short7';
    const response = await gql(CREATE_USER, {
      input: { email: 'not an email', password, displayName: 'x'.repeat(101) },
    });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['displayName', 'email', 'password']);
    expect(JSON.stringify(response)).not.toContain(password);
    const tooLong = await gql(CREATE_USER, {
      input: { email: `${'a'.repeat(250)}@x.test`, password: PASSWORD },
    });
    expect(tooLong.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'email', message: expect.stringContaining('254') },
    ]);
    const count = ok(await gql('{ users { totalCount } }', {})).users.totalCount;
    expect(count).toBe(2);
  });

  it("applies the tenant's minimum password length", async () => {
    const strict = await makeTenant(server, system, { settings: { passwordMinLength: 24 } });
    const input = { email: 'pw@example.test', password: 'Twenty chars pass 9!' };
    const response = await gql(CREATE_USER, { input }, strict.admin);
    expect(response.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'password', message: expect.stringContaining('24') },
    ]);
    expect(errorCode(await gql(CREATE_USER, { input }))).toBeUndefined();
  });

  it('answers CONFLICT for an email taken in the tenant, whatever its case', async () => {
    const existing = await makeUser(server, admin);
    const response = await gql(CREATE_USER, {
      input: { email: existing.email.toUpperCase(), password: PASSWORD },
    });
    expect(errorCode(response)).toBe('CONFLICT');
    // Another tenant may use it.
    const other = await makeTenant(server, system);
    expect(
      errorCode(
        await gql(CREATE_USER, { input: { email: existing.email, password: PASSWORD } }, other.admin),
      ),
    ).toBeUndefined();
  });

  it('updates fields, audits only the names of the fields that changed, and skips no-op updates', async () => {
    const user = await makeUser(server, admin, { displayName: 'Before' });
    const email = `${uniqueSlug('renamed')}@example.test`;
    const updated = ok(
      await gql(UPDATE_USER, {
        id: user.id,
        input: { displayName: 'After', email, role: 'MODERATOR', status: 'ACTIVE' },
      }),
    );
    expect(updated.updateUser).toMatchObject({
      displayName: 'After',
      email,
      role: 'MODERATOR',
      status: 'ACTIVE',
    });
    ok(await gql(UPDATE_USER, { id: user.id, input: { displayName: 'After' } }));
    const events = (await auditTrail(server, tenant.id, 'user.updated')).filter(
      (e) => e.targetId === user.id,
    );
    expect(events).toHaveLength(1);
    expect(auditedFields(events[0])).toEqual(['displayName', 'email', 'role']);
    const clear = ok(await gql(UPDATE_USER, { id: user.id, input: { displayName: null } }));
    expect(clear.updateUser.displayName).toBeNull();
  });

  it('rejects invalid updates naming each field, and changes nothing', async () => {
    const user = await makeUser(server, admin, { displayName: 'Keep' });
    const response = await gql(UPDATE_USER, {
      id: user.id,
      input: { email: 'nope', displayName: '\u0007bell', role: null, status: null },
    });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['displayName', 'email', 'role', 'status']);
    const emptyEmail = await gql(UPDATE_USER, { id: user.id, input: { email: null } });
    expect(emptyEmail.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'email', message: expect.any(String) },
    ]);
    const taken = await gql(UPDATE_USER, { id: user.id, input: { email: admin.email.toUpperCase() } });
    expect(errorCode(taken)).toBe('CONFLICT');
    const read = ok(await gql('query ($id: ID!) { user(id: $id) { email displayName } }', { id: user.id }));
    expect(read.user).toEqual({ email: user.email, displayName: 'Keep' });
  });

  it('suspending ends every session at once; reactivating lets the user sign in again', async () => {
    const user = await makeUser(server, admin, { role: 'USER' });
    const [first, second] = [
      await signIn(server, tenant.slug, user.email),
      await signIn(server, tenant.slug, user.email),
    ];
    expect(await tokenWorks(server, first.token)).toBe(true);
    ok(await gql(UPDATE_USER, { id: user.id, input: { status: 'SUSPENDED' } }));
    expect(await tokenWorks(server, first.token)).toBe(false);
    expect(await tokenWorks(server, second.token)).toBe(false);
    expect(errorCode(await login(user.email))).toBe('UNAUTHENTICATED');
    const rows = await server.testDatabase.database.db
      .select()
      .from(sessions)
      .where(eq(sessions.userId, user.id));
    expect(rows.map((r) => r.endReason)).toEqual(['USER_SUSPENDED', 'USER_SUSPENDED']);
    const read = ok(
      await gql('query ($id: ID!) { user(id: $id) { status sessions { id } } }', { id: user.id }),
    );
    expect(read.user).toEqual({ status: 'SUSPENDED', sessions: [] });
    ok(await gql(UPDATE_USER, { id: user.id, input: { status: 'ACTIVE' } }));
    expect(errorCode(await login(user.email))).toBeUndefined();
  });

  it('applies a role change to the very next request of an already signed-in user', async () => {
    const moderator = await makeActor(server, tenant, 'MODERATOR');
    const list = '{ users(first: 1) { totalCount } }';
    expect(errorCode(await gql(list, {}, moderator))).toBeUndefined();
    ok(await gql(UPDATE_USER, { id: moderator.userId, input: { role: 'USER' } }));
    expect(errorCode(await gql(list, {}, moderator))).toBe('FORBIDDEN');
    ok(await gql(UPDATE_USER, { id: moderator.userId, input: { role: 'MODERATOR' } }));
    expect(errorCode(await gql(list, {}, moderator))).toBeUndefined();
  });

  it('deletes a user with their sessions in one go; the id is then unknown', async () => {
    const user = await makeUser(server, admin);
    const signedIn = await signIn(server, tenant.slug, user.email);
    expect(ok(await gql(DELETE_USER, { id: user.id })).deleteUser).toBe(true);
    expect(await tokenWorks(server, signedIn.token)).toBe(false);
    expect(ok(await gql('query ($id: ID!) { user(id: $id) { id } }', { id: user.id })).user).toBeNull();
    expect(errorCode(await login(user.email))).toBe('UNAUTHENTICATED');
    const again = await gql(DELETE_USER, { id: user.id });
    expect(errorCode(again)).toBe('NOT_FOUND');
    const [event] = (await auditTrail(server, tenant.id, 'user.deleted')).filter(
      (e) => e.targetId === user.id,
    );
    expect(event?.metadata).toMatchObject({ email: user.email, endedSessions: 1 });
    const left = await server.testDatabase.database.db
      .select()
      .from(sessions)
      .where(eq(sessions.userId, user.id));
    expect(left).toEqual([]);
  });

  it('unlocks an account locked by failed sign-ins and clears its failure count', async () => {
    const user = await makeUser(server, admin);
    for (let i = 0; i < 2; i++)
      expect(errorCode(await login(user.email, 'wrong password 123!'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await login(user.email))).toBe('UNAUTHENTICATED');
    const moderator = await makeActor(server, tenant, 'MODERATOR');
    const locked = ok(
      await gql('query ($id: ID!) { user(id: $id) { lockedUntil } }', { id: user.id }, moderator),
    );
    expect(locked.user.lockedUntil).not.toBeNull();
    const unlocked = ok(await gql(UNLOCK_USER, { id: user.id }, moderator));
    expect(unlocked.unlockUser).toEqual({ id: user.id, lockedUntil: null });
    const [row] = await server.testDatabase.database.db
      .select({ failed: users.failedLoginCount })
      .from(users)
      .where(and(eq(users.tenantId, tenant.id), eq(users.id, user.id)));
    expect(row?.failed).toBe(0);
    expect(errorCode(await login(user.email))).toBeUndefined();
    const [event] = (await auditTrail(server, tenant.id, 'user.unlocked')).filter(
      (e) => e.targetId === user.id,
    );
    expect(event).toMatchObject({ actorId: moderator.userId, metadata: { wasLocked: true } });
  });
});
