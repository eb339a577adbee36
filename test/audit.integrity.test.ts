import { eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions, users } from '../src/db/schema.js';
import { write } from '../src/kernel/unit-of-work.js';
import {
  type Actor,
  CREATE_USER,
  makeTenant,
  makeUser,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  uniqueSlug,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/**
 * What the audit trail may hold and when it is written: never a secret, always in the same
 * transaction as the change, never a forged line.
 */

const server = useTestServer();
let system: Actor;
let tenant: TenantHandle;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
});

const db = () => server.testDatabase.database.db;
const execute = (statement: string) => db().execute(sql.raw(statement));

describe('audit events', () => {
  it('never hold a password, a token or a password hash', async () => {
    const REGISTER =
      'mutation ($input: RegisterInput!) { register(input: $input) { accessToken refreshToken } }';
    const email = `${uniqueSlug('s')}@example.test`;
    const first = 'First secret passphrase 1!';
    const second = 'Second secret passphrase 2!';
    const registered = (
      await server.gql(REGISTER, { input: { tenant: tenant.slug, email, password: first } })
    ).data?.register;
    const login = (password: string) =>
      server.gql('mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }', {
        input: { tenant: tenant.slug, email, password },
      });
    await login('A wrong passphrase here 3!');
    const signedIn = (await login(first)).data?.login;
    await server.gql('mutation ($t: String!) { refresh(input: { refreshToken: $t }) { accessToken } }', {
      t: registered.refreshToken,
    });
    // Past the reuse grace: the second use is reuse.
    server.clock.advance(10_001);
    await server.gql('mutation ($t: String!) { refresh(input: { refreshToken: $t }) { accessToken } }', {
      t: registered.refreshToken,
    });
    await server.gql(
      'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
      { input: { currentPassword: first, newPassword: second } },
      { token: signedIn.accessToken },
    );
    await server.gql(
      'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id } }',
      { input: { email: `x${email}`, currentPassword: second } },
      { token: signedIn.accessToken },
    );

    const rows = await db().select().from(auditEvents).where(eq(auditEvents.tenantId, tenant.id));
    expect(rows.map((r) => r.action)).toEqual(
      expect.arrayContaining([
        'auth.register',
        'auth.login.failed',
        'auth.login.succeeded',
        'auth.refresh.reuse_detected',
        'password.changed',
        'user.updated',
      ]),
    );
    const stored = JSON.stringify(rows);
    for (const secret of [
      first,
      second,
      'A wrong passphrase here 3!',
      registered.accessToken,
      registered.refreshToken,
      signedIn.accessToken,
      signedIn.refreshToken,
    ]) {
      expect(stored).not.toContain(secret);
    }
    const [user] = await db()
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.email, `x${email}`));
    expect(stored).not.toContain(user?.hash);
    expect(stored).not.toMatch(/\$2[aby]\$\d\d\$|\$ia1\$/);
  });

  it('are written in the same transaction as the change: no event, no change', async () => {
    const member = await makeUser(server, tenant.admin);
    const actor = await signIn(server, tenant.slug, member.email);
    const sessionCount = async () =>
      (await db().select().from(sessions).where(eq(sessions.userId, member.id))).length;
    const before = { events: (await db().select().from(auditEvents)).length, sessions: await sessionCount() };

    // From now on every audit insert fails.
    await execute('alter table audit_events add constraint zz_no_events check (false) not valid');
    try {
      const renamed = await server.gql(
        'mutation { updateMe(input: { displayName: "Never saved" }) { id } }',
        {},
        { token: actor.token },
      );
      expect(renamed.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      const login = await server.gql(
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
        {
          input: { tenant: tenant.slug, email: member.email, password: PASSWORD },
        },
      );
      expect(login.data ?? null).toBeNull();
      const created = await server.gql(
        CREATE_USER,
        { input: { email: 'ghost@example.test', password: PASSWORD } },
        { token: tenant.admin.token },
      );
      expect(created.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      const revoked = await server.gql(
        'mutation ($id: ID!) { revokeSession(id: $id) }',
        { id: actor.sessionId },
        { token: actor.token },
      );
      expect(revoked.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      await execute('alter table audit_events drop constraint zz_no_events');
    }

    const [row] = await db()
      .select({ displayName: users.displayName })
      .from(users)
      .where(eq(users.id, member.id));
    expect(row?.displayName).not.toBe('Never saved');
    expect(await sessionCount()).toBe(before.sessions);
    expect(await db().select().from(users).where(eq(users.email, 'ghost@example.test'))).toHaveLength(0);
    expect((await server.gql('{ me { id } }', {}, { token: actor.token })).data?.me.id).toBe(member.id);
    expect((await db().select().from(auditEvents)).length).toBe(before.events);
  });

  it('keep control characters out of the stored IP address and user agent', async () => {
    await write(server.app.services, (w) =>
      w.audit(
        { ip: '203.0.113.9\r\n', userAgent: 'Mozilla/5.0\n{"action":"forged"}\u001b[2J\u0085' },
        { tenantId: tenant.id, actorId: null, action: 'test.control', at: server.clock.now() },
      ),
    );
    const [row] = await db()
      .select({ ip: auditEvents.ipAddress, ua: auditEvents.userAgent })
      .from(auditEvents)
      .where(eq(auditEvents.action, 'test.control'));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    const control = /[\u0000-\u001f\u007f-\u009f]/;
    expect(row?.ip).not.toMatch(control);
    expect(row?.ua).not.toMatch(control);
    expect(row?.ua).toContain('Mozilla/5.0');
  });
});
