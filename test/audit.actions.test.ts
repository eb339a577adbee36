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
 * Sign-in, session, password, profile and user-administration actions, made through the API,
 * appear in auditEvents with the right tenant, actor and target, the client's IP and user agent,
 * and the (injected) time in UTC. Tenant actions and authz.denied: audit.admin-actions.test.ts.
 */

const server = useTestServer();
let system: Actor;
let tenant: { id: string; slug: string };
let admin: Actor;
const { call, ok, expectEvent } = auditProbe(
  () => server,
  () => system,
);

const LOGIN =
  'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken session { id } user { id } } }';
const login = (email: string, password = PASSWORD, slug = tenant.slug) =>
  call(LOGIN, { input: { tenant: slug, email, password } });

beforeAll(async () => {
  system = await signInSystemAdmin(server);
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
  admin = await signIn(server, slug, `admin@${slug}.test`);
});

describe('audit trail', () => {
  it('records sign-up, sign-in, refresh-token reuse and sign-out', async () => {
    server.clock.advance(1_000);
    const REGISTER =
      'mutation ($input: RegisterInput!) { register(input: $input) { refreshToken user { id } session { id } } }';
    const email = `${uniqueSlug('reg')}@example.test`;
    const registered = (await ok(REGISTER, { input: { tenant: tenant.slug, email, password: PASSWORD } }))
      .register;
    const userId = registered.user.id;
    const event = await expectEvent(tenant.id, 'auth.register', {
      actorId: userId,
      targetType: 'user',
      targetId: userId,
    });
    expect(event.actor?.id).toBe(userId);

    server.clock.advance(1_000);
    const signedIn = (await ok(LOGIN, { input: { tenant: tenant.slug, email, password: PASSWORD } })).login;
    await expectEvent(tenant.id, 'auth.login.succeeded', {
      actorId: userId,
      targetType: 'session',
      targetId: signedIn.session.id,
    });

    server.clock.advance(1_000);
    const REFRESH = 'mutation ($t: String!) { refresh(input: { refreshToken: $t }) { refreshToken } }';
    await ok(REFRESH, { t: signedIn.refreshToken });
    // Past the reuse grace (REFRESH_REUSE_GRACE_SECONDS, 10 s): this is reuse, not a second tab.
    server.clock.advance(10_001);
    expect((await call(REFRESH, { t: signedIn.refreshToken })).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    await expectEvent(tenant.id, 'auth.refresh.reuse_detected', {
      actorId: null,
      targetType: 'session',
      targetId: signedIn.session.id,
    });

    server.clock.advance(1_000);
    const again = (await ok(LOGIN, { input: { tenant: tenant.slug, email, password: PASSWORD } })).login;
    await ok('mutation { logout }', {}, again.accessToken);
    await expectEvent(tenant.id, 'auth.logout', {
      actorId: userId,
      targetType: 'session',
      targetId: again.session.id,
    });
  });

  it('tells failed sign-ins apart only in the trail: unknown_user, bad_password, locked, suspended', async () => {
    const victim = (
      await ok(
        CREATE_USER,
        { input: { email: `${uniqueSlug('v')}@example.test`, password: PASSWORD } },
        admin.token,
      )
    ).createUser;
    const answers = [];
    server.clock.advance(1_000);
    answers.push(await login('nobody@example.test'));
    await expectEvent(tenant.id, 'auth.login.failed', {
      actorId: null,
      targetType: null,
      targetId: null,
      metadata: { reason: 'unknown_user' },
    });
    server.clock.advance(1_000);
    answers.push(await login(victim.email, 'Wrong passphrase 1!'));
    await expectEvent(tenant.id, 'auth.login.failed', {
      actorId: null,
      targetType: 'user',
      targetId: victim.id,
      metadata: { reason: 'bad_password' },
    });
    server.clock.advance(1_000);
    answers.push(await login(victim.email, 'Wrong passphrase 2!'));
    await expectEvent(tenant.id, 'auth.lockout', { actorId: null, targetType: 'user', targetId: victim.id });
    server.clock.advance(1_000);
    answers.push(await login(victim.email));
    await expectEvent(tenant.id, 'auth.login.failed', {
      actorId: null,
      targetType: 'user',
      targetId: victim.id,
      metadata: { reason: 'locked' },
    });

    server.clock.advance(1_000);
    await ok('mutation ($id: ID!) { unlockUser(id: $id) { id } }', { id: victim.id }, admin.token);
    await expectEvent(tenant.id, 'user.unlocked', {
      actorId: admin.userId,
      targetType: 'user',
      targetId: victim.id,
    });
    await ok(
      'mutation ($id: ID!) { updateUser(id: $id, input: { status: SUSPENDED }) { id } }',
      { id: victim.id },
      admin.token,
    );
    await expectEvent(tenant.id, 'user.updated', {
      actorId: admin.userId,
      targetType: 'user',
      targetId: victim.id,
      metadata: { fields: ['status'] },
    });
    server.clock.advance(1_000);
    answers.push(await login(victim.email));
    await expectEvent(tenant.id, 'auth.login.failed', {
      actorId: null,
      targetType: 'user',
      targetId: victim.id,
      metadata: { reason: 'suspended' },
    });

    // The client gets the very same answer every time.
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.errors).toEqual(answers[0]?.errors);
    }
    expect(answers[0]?.errors).toEqual([
      expect.objectContaining({
        message: 'Invalid email or password.',
        extensions: { code: 'UNAUTHENTICATED' },
      }),
    ]);
  });

  it('records session, password, profile and user administration with the acting user', async () => {
    const email = `${uniqueSlug('m')}@example.test`;
    server.clock.advance(1_000);
    const member = (await ok(CREATE_USER, { input: { email, password: PASSWORD } }, admin.token)).createUser;
    await expectEvent(tenant.id, 'user.created', {
      actorId: admin.userId,
      targetType: 'user',
      targetId: member.id,
    });

    const first = (await login(email)).data?.login;
    const second = (await login(email)).data?.login;
    server.clock.advance(1_000);
    await ok('mutation ($id: ID!) { revokeSession(id: $id) }', { id: second.session.id }, admin.token);
    await expectEvent(tenant.id, 'session.revoked', {
      actorId: admin.userId,
      targetType: 'session',
      targetId: second.session.id,
    });

    server.clock.advance(1_000);
    const newPassword = 'Another long passphrase 8!';
    await ok(
      'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
      { input: { currentPassword: PASSWORD, newPassword } },
      first.accessToken,
    );
    await expectEvent(tenant.id, 'password.changed', {
      actorId: member.id,
      targetType: 'user',
      targetId: member.id,
    });

    server.clock.advance(1_000);
    const UPDATE_ME = 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id } }';
    await ok(
      UPDATE_ME,
      { input: { email: `new-${email}`, displayName: 'Secretive', currentPassword: newPassword } },
      first.accessToken,
    );
    const self = await expectEvent(tenant.id, 'user.updated', {
      actorId: member.id,
      targetType: 'user',
      targetId: member.id,
    });
    expect(((self.metadata?.fields ?? []) as string[]).toSorted()).toEqual(['displayName', 'email']);
    expect(JSON.stringify(self.metadata)).not.toMatch(/Secretive|new-|passphrase/);

    server.clock.advance(1_000);
    await ok(
      'mutation ($id: ID!) { updateUser(id: $id, input: { role: MODERATOR, displayName: "Mod" }) { id } }',
      { id: member.id },
      admin.token,
    );
    const byAdmin = await expectEvent(tenant.id, 'user.updated', {
      actorId: admin.userId,
      targetType: 'user',
      targetId: member.id,
    });
    expect(((byAdmin.metadata?.fields ?? []) as string[]).toSorted()).toEqual(['displayName', 'role']);

    server.clock.advance(1_000);
    await ok('mutation ($id: ID!) { deleteUser(id: $id) }', { id: member.id }, admin.token);
    await expectEvent(tenant.id, 'user.deleted', {
      actorId: admin.userId,
      targetType: 'user',
      targetId: member.id,
    });
  });
});
