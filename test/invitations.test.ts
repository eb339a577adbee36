import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  AUTH_PAYLOAD_FIELDS,
  auditTrail,
  loginUser,
  makeTenant,
  makeWorld,
  ok,
  type Role,
  signIn,
  signInSystemAdmin,
  strongPassword,
  type TenantWorld,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, type GraphQLResponse, useTestServer } from './support/server.js';
import { type ReceivedMail, TestSmtpServer, tokenOf } from './support/smtp.js';

/**
 * Invitations end to end: inviteUser writes an email that arrives at a real SMTP server in this
 * process; its link is followed as the app's /accept-invitation page would, and acceptInvitation
 * creates the account (verified) and signs it in.
 */

let smtp: TestSmtpServer;
let system: Actor;
let world: TenantWorld;
const PUBLIC_URL = 'https://identity.example.test';
const INVITATION_LINK = new RegExp(`^${PUBLIC_URL}/accept-invitation\\?token=[A-Za-z0-9_.-]+$`);

const INVITE = `mutation ($input: InviteUserInput!) {
  inviteUser(input: $input) { id email role status createdAt expiresAt acceptedAt invitedBy { id } }
}`;
const ACCEPT = `mutation ($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { ${AUTH_PAYLOAD_FIELDS} } }`;
const REVOKE = 'mutation ($id: ID!) { revokeInvitation(id: $id) }';
const LIST = `query ($first: Int, $after: String, $status: InvitationStatus, $tenantId: ID) {
  invitations(first: $first, after: $after, status: $status, tenantId: $tenantId) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id email role status acceptedAt }
  }
}`;

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
});
afterAll(async () => {
  await smtp?.stop();
});
const server = useTestServer(() => ({ SMTP_URL: smtp.url, PUBLIC_URL }));
beforeAll(async () => {
  system = await signInSystemAdmin(server);
  world = await makeWorld(server, system);
});

function invite(by: Actor, input: Record<string, unknown>) {
  return server.gql(INVITE, { input }, { token: by.token });
}

async function invitationMail(email: string, count = 1): Promise<ReceivedMail> {
  const mails = await smtp.waitFor(email, count);
  const mail = mails[mails.length - 1];
  if (!mail) throw new Error(`no mail to ${email}`);
  return mail;
}

function accept(token: string, password: string, displayName?: string) {
  return server.gql(ACCEPT, { input: { token, password, displayName } });
}

function expectBadToken(response: GraphQLResponse, token: string) {
  expect(response.errors?.[0]?.extensions).toMatchObject({
    code: 'BAD_USER_INPUT',
    fields: [{ field: 'token', message: expect.any(String) }],
  });
  expect(JSON.stringify(response)).not.toContain(token);
}

describe('inviteUser and acceptInvitation', () => {
  it('email a link to {PUBLIC_URL}/accept-invitation; accepting creates the account verified, with the role, signed in', async () => {
    const email = `${unique('invitee')}@example.test`;
    const invited = ok(await invite(world.admin, { email, role: 'MODERATOR', displayName: 'Ines Invited' }));
    expect(invited.inviteUser).toMatchObject({
      email,
      role: 'MODERATOR',
      status: 'PENDING',
      acceptedAt: null,
      invitedBy: { id: world.admin.userId },
    });
    const lifetime = Date.parse(invited.inviteUser.expiresAt) - Date.parse(invited.inviteUser.createdAt);
    expect(lifetime).toBe(7 * 86_400_000);

    const mail = await invitationMail(email);
    expect(mail.link).toMatch(INVITATION_LINK);
    expect(mail.text).toContain(mail.link as string);
    expect(mail.subject.length).toBeGreaterThan(0);

    const token = tokenOf(mail.link);
    const password = strongPassword();
    const accepted = ok(await accept(token, password));
    expect(accepted.acceptInvitation.user).toMatchObject({
      email,
      role: 'MODERATOR',
      displayName: 'Ines Invited',
    });
    expect(accepted.acceptInvitation.refreshToken).toBeTruthy();
    expect(await tokenWorks(server, accepted.acceptInvitation.accessToken)).toBe(true);
    const me = ok(
      await server.gql(
        '{ me { id emailVerifiedAt tenant { id } } }',
        {},
        {
          token: accepted.acceptInvitation.accessToken,
        },
      ),
    );
    expect(me.me.emailVerifiedAt).not.toBeNull();
    expect(me.me.tenant.id).toBe(world.id);
    // The password chosen on the page signs in from now on.
    await loginUser(server, { tenant: world.slug, email, password });

    // The link works once.
    expectBadToken(await accept(token, strongPassword()), token);
    const listed = ok(
      await server.gql(LIST, { status: 'ACCEPTED', first: 100 }, { token: world.admin.token }),
    );
    const row = listed.invitations.nodes.find((n: { id: string }) => n.id === invited.inviteUser.id);
    expect(row).toMatchObject({ status: 'ACCEPTED', acceptedAt: expect.any(String) });

    const audit = await auditTrail(server, world.id);
    const actions = audit.map((event) => event.action);
    expect(actions).toContain('invitation.created');
    expect(actions).toContain('invitation.accepted');
  });

  it('a weak password is BAD_USER_INPUT on password and leaves the link usable; a display name given on the page wins', async () => {
    const email = `${unique('weak')}@example.test`;
    ok(await invite(world.admin, { email, displayName: 'From The Admin' }));
    const token = tokenOf((await invitationMail(email)).link);
    const weak = await accept(token, 'password');
    expect(errorCode(weak)).toBe('BAD_USER_INPUT');
    const fields = weak.errors?.[0]?.extensions?.fields as { field: string }[];
    expect(fields.length).toBeGreaterThan(0);
    expect(fields.every((f) => f.field === 'password')).toBe(true);
    const accepted = ok(await accept(token, strongPassword(), 'Chosen Name'));
    // Without a role, the tenant's default role.
    expect(accepted.acceptInvitation.user).toMatchObject({ email, role: 'USER', displayName: 'Chosen Name' });
  });

  it('an accepted invitation signs in at once where the tenant requires a verified email', async () => {
    const strict = await makeTenant(server, system, { settings: { requireEmailVerification: true } });
    const email = `${unique('strict')}@example.test`;
    ok(await invite(strict.admin, { email, role: 'GUEST' }));
    const password = strongPassword();
    const accepted = ok(await accept(tokenOf((await invitationMail(email)).link), password));
    expect(accepted.acceptInvitation.user).toMatchObject({ email, role: 'GUEST' });
    expect(await tokenWorks(server, accepted.acceptInvitation.accessToken)).toBe(true);
    await loginUser(server, { tenant: strict.slug, email, password });
  });

  it('CONFLICT when the address got an account after it was invited; the link stays unused', async () => {
    const email = `${unique('raced')}@example.test`;
    ok(await invite(world.admin, { email }));
    const token = tokenOf((await invitationMail(email)).link);
    ok(
      await server.gql('mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }', {
        input: { tenant: world.slug, email, password: strongPassword() },
      }),
    );
    expect(errorCode(await accept(token, strongPassword()))).toBe('CONFLICT');
    const pending = ok(
      await server.gql(LIST, { status: 'PENDING', first: 100 }, { token: world.admin.token }),
    );
    expect(pending.invitations.nodes.map((n: { email: string }) => n.email)).toContain(email);
  });

  it('CONFLICT for an email that already has an account in the tenant (any letter case)', async () => {
    const existing = world.as.USER.email;
    for (const email of [existing, existing.toUpperCase()]) {
      const response = await invite(world.admin, { email });
      expect(errorCode(response)).toBe('CONFLICT');
    }
  });

  it('expired (after 7 days), revoked, replaced and unknown tokens are BAD_USER_INPUT on token', async () => {
    const late = `${unique('late')}@example.test`;
    const lateInvitation = ok(await invite(world.admin, { email: late })).inviteUser;
    const lateToken = tokenOf((await invitationMail(late)).link);

    const revoked = `${unique('revoked')}@example.test`;
    const revokedInvitation = ok(await invite(world.admin, { email: revoked })).inviteUser;
    const revokedToken = tokenOf((await invitationMail(revoked)).link);
    expect(ok(await server.gql(REVOKE, { id: revokedInvitation.id }, { token: world.admin.token }))).toEqual({
      revokeInvitation: true,
    });
    // Already revoked: false.
    expect(ok(await server.gql(REVOKE, { id: revokedInvitation.id }, { token: world.admin.token }))).toEqual({
      revokeInvitation: false,
    });
    expectBadToken(await accept(revokedToken, strongPassword()), revokedToken);

    // A second invitation to one address replaces the first.
    const twice = `${unique('twice')}@example.test`;
    ok(await invite(world.admin, { email: twice }));
    const firstToken = tokenOf((await invitationMail(twice)).link);
    ok(await invite(world.admin, { email: twice }));
    const secondToken = tokenOf((await invitationMail(twice, 2)).link);
    expectBadToken(await accept(firstToken, strongPassword()), firstToken);
    ok(await accept(secondToken, strongPassword()));

    const garbage = `${lateToken.slice(0, lateToken.indexOf('.') + 1)}${'C'.repeat(43)}`;
    for (const bad of [garbage, 'nonsense']) expectBadToken(await accept(bad, strongPassword()), bad);

    const week = 7 * 86_400_000;
    server.clock.advance(week + 1_000);
    try {
      expectBadToken(await accept(lateToken, strongPassword()), lateToken);
      // (The admin's access token has expired too: a new sign-in.)
      const admin = await signIn(server, world.slug, world.admin.email);
      const expired = ok(await server.gql(LIST, { status: 'EXPIRED', first: 100 }, { token: admin.token }));
      expect(expired.invitations.nodes.map((n: { id: string }) => n.id)).toContain(lateInvitation.id);
    } finally {
      server.clock.advance(-(week + 1_000));
    }
    const revokedList = ok(
      await server.gql(LIST, { status: 'REVOKED', first: 100 }, { token: world.admin.token }),
    );
    expect(revokedList.invitations.nodes.map((n: { id: string }) => n.id)).toContain(revokedInvitation.id);
    expect((await auditTrail(server, world.id, 'invitation.revoked')).map((e) => e.targetId)).toContain(
      revokedInvitation.id,
    );
  });
});

describe('who may invite whom', () => {
  /** As for createUser: nobody grants a role above their own; MODERATORs only USER and GUEST. */
  const ALLOWED: Record<Role, Role[]> = {
    ADMIN: ['ADMIN', 'MODERATOR', 'USER', 'GUEST'],
    MODERATOR: ['USER', 'GUEST'],
    USER: [],
    GUEST: [],
  };

  for (const caller of ['ADMIN', 'MODERATOR', 'USER', 'GUEST'] as const) {
    it(`${caller}`, async () => {
      for (const role of ['ADMIN', 'MODERATOR', 'USER', 'GUEST'] as const) {
        const email = `${unique('bounded')}@example.test`;
        const response = await invite(world.as[caller], { email, role });
        if (ALLOWED[caller].includes(role)) {
          expect(response.errors, `${caller} invites ${role}`).toBeUndefined();
          expect(response.data?.inviteUser.role).toBe(role);
        } else {
          expect(errorCode(response), `${caller} invites ${role}`).toBe('FORBIDDEN');
        }
      }
    });
  }

  it('a MODERATOR revokes USER and GUEST invitations only; only ADMINs list them', async () => {
    const forAdmin = ok(await invite(world.admin, { email: `${unique('a')}@example.test`, role: 'ADMIN' }));
    const forUser = ok(await invite(world.admin, { email: `${unique('u')}@example.test`, role: 'USER' }));
    const moderator = world.as.MODERATOR;
    expect(
      errorCode(await server.gql(REVOKE, { id: forAdmin.inviteUser.id }, { token: moderator.token })),
    ).toBe('FORBIDDEN');
    expect(ok(await server.gql(REVOKE, { id: forUser.inviteUser.id }, { token: moderator.token }))).toEqual({
      revokeInvitation: true,
    });
    for (const role of ['MODERATOR', 'USER', 'GUEST'] as const) {
      expect(errorCode(await server.gql(LIST, {}, { token: world.as[role].token })), role).toBe('FORBIDDEN');
    }
  });

  it("another tenant's invitations are out of reach: NOT_FOUND to revoke, absent from the list", async () => {
    const other = await makeTenant(server, system);
    const theirs = ok(await invite(other.admin, { email: `${unique('theirs')}@example.test` })).inviteUser;
    const response = await server.gql(REVOKE, { id: theirs.id }, { token: world.admin.token });
    expect(errorCode(response)).toBe('NOT_FOUND');
    const unknown = await server.gql(
      REVOKE,
      { id: '01900000-0000-7000-8000-000000000000' },
      { token: world.admin.token },
    );
    expect(errorCode(unknown)).toBe('NOT_FOUND');
    expect(unknown.errors?.[0]?.message).toBe(response.errors?.[0]?.message);
    const ours = ok(await server.gql(LIST, { first: 100 }, { token: world.admin.token }));
    expect(ours.invitations.nodes.map((n: { id: string }) => n.id)).not.toContain(theirs.id);
    // A tenant ADMIN may not name another tenant.
    expect(
      errorCode(await invite(world.admin, { email: `${unique('x')}@example.test`, tenantId: other.id })),
    ).toBe('FORBIDDEN');
    // A system ADMIN may, and sees that tenant's list.
    const bySystem = ok(await invite(system, { email: `${unique('sys')}@example.test`, tenantId: other.id }));
    const theirList = ok(await server.gql(LIST, { tenantId: other.id, first: 100 }, { token: system.token }));
    expect(theirList.invitations.nodes.map((n: { id: string }) => n.id)).toEqual(
      expect.arrayContaining([theirs.id, bySystem.inviteUser.id]),
    );
  });

  it('lists page by page, every invitation exactly once', async () => {
    const tenant = await makeTenant(server, system);
    const emails = Array.from({ length: 5 }, () => `${unique('page')}@example.test`);
    for (const email of emails) ok(await invite(tenant.admin, { email }));
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        totalCount: number;
        nodes: { email: string }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      } = ok(await server.gql(LIST, { first: 2, after }, { token: tenant.admin.token })).invitations;
      expect(page.totalCount).toBe(5);
      seen.push(...page.nodes.map((n: { email: string }) => n.email));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen.sort()).toEqual([...emails].sort());
    expect(errorCode(await server.gql(LIST, { first: 101 }, { token: tenant.admin.token }))).toBe(
      'BAD_USER_INPUT',
    );
  });
});
