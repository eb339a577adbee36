import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  attemptLogin,
  auditTrail,
  createTenant,
  loginUser,
  makeTenant,
  makeUser,
  ok,
  REGISTER,
  registerUser,
  signIn,
  signInSystemAdmin,
  strongPassword,
  UPDATE_USER,
  unique,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';
import { TestSmtpServer, tokenOf } from './support/smtp.js';

/**
 * Email verification end to end: the link arrives at a real SMTP server in this process and is
 * followed as the app's /verify-email page would (the token read from the emailed URL).
 */

let smtp: TestSmtpServer;
let system: Actor;
const PUBLIC_URL = 'https://identity.example.test';
const VERIFY_LINK = new RegExp(`^${PUBLIC_URL}/verify-email\\?token=[A-Za-z0-9_.-]+$`);

const SEND = 'mutation { sendVerificationEmail }';
const VERIFY = 'mutation ($input: VerifyEmailInput!) { verifyEmail(input: $input) }';
const ME = '{ me { id email emailVerifiedAt } }';
const UPDATE_ME = 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { email emailVerifiedAt } }';

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
});
afterAll(async () => {
  await smtp?.stop();
});
const server = useTestServer(() => ({ SMTP_URL: smtp.url, PUBLIC_URL, EMAIL_PER_ADDRESS_PER_HOUR: '3' }));
beforeAll(async () => {
  system = await signInSystemAdmin(server);
});

/** Lets the background work and the outbox finish, so what was going to be sent has been. */
async function settle() {
  await server.app.services.background.idle();
  await server.app.services.mailer.outbox.deliverDue();
}

/** The newest email to `address`, waiting for the `count`th. */
async function mailTo(address: string, count = 1) {
  const mails = await smtp.waitFor(address, count);
  const mail = mails[mails.length - 1];
  if (!mail) throw new Error(`no mail to ${address}`);
  return mail;
}

async function verifiedAt(token: string): Promise<string | null> {
  return ok(await server.gql(ME, {}, { token })).me.emailVerifiedAt;
}

describe('sendVerificationEmail and verifyEmail', () => {
  it('email a link to {PUBLIC_URL}/verify-email; following it marks the email verified, once', async () => {
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    expect(await verifiedAt(user.accessToken)).toBeNull();

    expect(ok(await server.gql(SEND, {}, { token: user.accessToken })).sendVerificationEmail).toBe(true);
    const mail = await mailTo(user.email);
    expect(mail.link).toMatch(VERIFY_LINK);
    expect(mail.text).toContain(mail.link as string);
    expect(mail.subject).toContain(tenant.name);

    const token = tokenOf(mail.link);
    expect(ok(await server.gql(VERIFY, { input: { token } })).verifyEmail).toBe(true);
    const at = await verifiedAt(user.accessToken);
    expect(at).not.toBeNull();
    expect(new Date(at as string).getTime()).toBe(server.clock.now().getTime());
    expect(await auditTrail(server, tenant.id, 'email.verified')).toHaveLength(1);

    // The same link again: refused like any bad token, never echoed.
    const again = await server.gql(VERIFY, { input: { token } });
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
    expect(again.errors?.[0]?.extensions?.fields).toEqual([{ field: 'token', message: expect.any(String) }]);
    expect(JSON.stringify(again)).not.toContain(token);

    // Already verified: true, and nothing more is sent.
    expect(ok(await server.gql(SEND, {}, { token: user.accessToken })).sendVerificationEmail).toBe(true);
    await settle();
    expect(smtp.to(user.email)).toHaveLength(1);
  });

  it('refuses a link after 24 hours, and unknown or malformed tokens, with BAD_USER_INPUT on token', async () => {
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    ok(await server.gql(SEND, {}, { token: user.accessToken }));
    const token = tokenOf((await mailTo(user.email)).link);
    const garbage = `${token.slice(0, token.indexOf('.') + 1)}${'B'.repeat(43)}`;
    for (const bad of [garbage, 'nonsense', '']) {
      const response = await server.gql(VERIFY, { input: { token: bad } });
      expect(response.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fields: [{ field: 'token', message: expect.any(String) }],
      });
    }
    const day = 24 * 3_600_000;
    server.clock.advance(day + 1_000);
    try {
      const late = await server.gql(VERIFY, { input: { token } });
      expect(late.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fields: [{ field: 'token' }],
      });
    } finally {
      server.clock.advance(-(day + 1_000));
    }
    expect(await verifiedAt(user.accessToken)).toBeNull();
  });

  it('sends at most EMAIL_PER_ADDRESS_PER_HOUR verification emails to one address, then RATE_LIMITED', async () => {
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await server.gql(SEND, {}, { token: user.accessToken }));
    expect(answers.slice(0, 3).map((a) => a.data?.sendVerificationEmail)).toEqual([true, true, true]);
    for (const refused of answers.slice(3)) {
      expect(errorCode(refused)).toBe('RATE_LIMITED');
      expect(refused.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    }
    await settle();
    expect(smtp.to(user.email)).toHaveLength(3);
  });
});

describe('re-verification when the email changes', () => {
  it('updateMe: the new address is unverified and gets its own link; the old one no longer verifies it', async () => {
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    ok(await server.gql(SEND, {}, { token: user.accessToken }));
    const oldToken = tokenOf((await mailTo(user.email)).link);
    // Verified first, through a second link to the first address.
    const first = await registerUser(server, tenant.slug);
    ok(await server.gql(SEND, {}, { token: first.accessToken }));
    ok(await server.gql(VERIFY, { input: { token: tokenOf((await mailTo(first.email)).link) } }));
    expect(await verifiedAt(first.accessToken)).not.toBeNull();

    const newEmail = `${unique('moved')}@example.test`;
    const changed = ok(
      await server.gql(
        UPDATE_ME,
        { input: { email: newEmail, currentPassword: first.password } },
        { token: first.accessToken },
      ),
    );
    expect(changed.updateMe).toEqual({ email: newEmail, emailVerifiedAt: null });
    const mail = await mailTo(newEmail);
    expect(mail.link).toMatch(VERIFY_LINK);
    ok(await server.gql(VERIFY, { input: { token: tokenOf(mail.link) } }));
    expect(await verifiedAt(first.accessToken)).not.toBeNull();

    // A link sent to an address the account no longer has verifies nothing.
    ok(
      await server.gql(
        UPDATE_ME,
        { input: { email: `${unique('again')}@example.test`, currentPassword: user.password } },
        { token: user.accessToken },
      ),
    );
    const stale = await server.gql(VERIFY, { input: { token: oldToken } });
    expect(stale.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'token' }],
    });
    expect(await verifiedAt(user.accessToken)).toBeNull();
  });

  it('updateUser by an ADMIN: the new address is unverified and gets its own link', async () => {
    const tenant = await makeTenant(server, system);
    const created = await makeUser(server, tenant.admin);
    const member = await signIn(server, tenant.slug, created.email);
    // An ADMIN vouches for the address of an account they create.
    expect(await verifiedAt(member.token)).not.toBeNull();

    const newEmail = `${unique('renamed')}@example.test`;
    const updated = ok(
      await server.gql(
        UPDATE_USER,
        { id: created.id, input: { email: newEmail } },
        { token: tenant.admin.token },
      ),
    );
    expect(updated.updateUser.email).toBe(newEmail);
    expect(await verifiedAt(member.token)).toBeNull();
    const mail = await mailTo(newEmail);
    expect(mail.link).toMatch(VERIFY_LINK);
    ok(await server.gql(VERIFY, { input: { token: tokenOf(mail.link) } }));
    expect(await verifiedAt(member.token)).not.toBeNull();
    // Only the address's letter case changed: still the same mailbox, still verified.
    ok(
      await server.gql(
        UPDATE_USER,
        { id: created.id, input: { email: newEmail.toUpperCase() } },
        { token: tenant.admin.token },
      ),
    );
    expect(await verifiedAt(member.token)).not.toBeNull();
  });
});

describe('a tenant that requires a verified email', () => {
  it('refuses sign-in with EMAIL_NOT_VERIFIED only after the right password, until the emailed link is followed', async () => {
    const tenant = await createTenant(server, { settings: { requireEmailVerification: true } });
    const email = `${unique('strict')}@example.test`;
    const password = strongPassword();

    // Sign-up with the right password: the account exists, the link goes out, no tokens yet.
    const registered = await server.gql(REGISTER, { input: { tenant: tenant.slug, email, password } });
    expect(errorCode(registered)).toBe('EMAIL_NOT_VERIFIED');
    expect(registered.data ?? null).toBeNull();
    const first = await mailTo(email);
    expect(first.link).toMatch(VERIFY_LINK);

    // A wrong password says nothing about verification: the generic failure, as for nobody.
    const wrong = await attemptLogin(server, tenant.slug, email, `${password} wrong`);
    const nobody = await attemptLogin(server, tenant.slug, `${unique('nobody')}@example.test`, password);
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
    expect(wrong.errors?.[0]?.message).toBe(nobody.errors?.[0]?.message);
    expect(JSON.stringify(wrong)).not.toContain('VERIFIED');

    // The right password: EMAIL_NOT_VERIFIED, and a fresh link.
    const right = await attemptLogin(server, tenant.slug, email, password);
    expect(errorCode(right)).toBe('EMAIL_NOT_VERIFIED');
    expect(right.data ?? null).toBeNull();
    expect(JSON.stringify(right)).not.toContain(password);
    const second = await mailTo(email, 2);

    expect(ok(await server.gql(VERIFY, { input: { token: tokenOf(second.link) } })).verifyEmail).toBe(true);
    const signedIn = await loginUser(server, { tenant: tenant.slug, email, password });
    expect(await verifiedAt(signedIn.accessToken)).not.toBeNull();
    // The first link was voided by the verification.
    expect(errorCode(await server.gql(VERIFY, { input: { token: tokenOf(first.link) } }))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('a locked account answers the generic failure even with the right password, not EMAIL_NOT_VERIFIED', async () => {
    const tenant = await makeTenant(server, system, {
      settings: { requireEmailVerification: true, maxFailedLogins: 3 },
    });
    const email = `${unique('locked')}@example.test`;
    const password = strongPassword();
    expect(errorCode(await server.gql(REGISTER, { input: { tenant: tenant.slug, email, password } }))).toBe(
      'EMAIL_NOT_VERIFIED',
    );
    for (let i = 0; i < 3; i++) await attemptLogin(server, tenant.slug, email, `wrong ${i} password here`);
    expect(errorCode(await attemptLogin(server, tenant.slug, email, password))).toBe('UNAUTHENTICATED');
  });
});
