import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../src/db/schema.js';
import {
  attemptLogin,
  createTenant,
  loginUser,
  registerUser,
  strongPassword,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, startTestServer, type TestServer } from './support/server.js';
import { TestSmtpServer, tokenOf } from './support/smtp.js';

/** Password reset by email, end to end: the link arrives at a real SMTP server and is followed. */

let smtp: TestSmtpServer;
let server: TestServer;
let tenantSlug: string;
const PUBLIC_URL = 'https://identity.example.test';

const REQUEST = 'mutation ($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) }';
const RESET = 'mutation ($input: ResetPasswordInput!) { resetPassword(input: $input) }';

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
  server = await startTestServer({
    SMTP_URL: smtp.url,
    PUBLIC_URL,
    MAIL_FROM: 'Acme Identity <no-reply@acme.test>',
    EMAIL_PER_ADDRESS_PER_HOUR: '3',
  });
  tenantSlug = (await createTenant(server, { name: 'Acme <Corp> & "Friends"' })).slug;
});
afterAll(async () => {
  await server?.close();
  await smtp?.stop();
});

/** Lets the background work and the outbox finish, so what was going to be sent has been. */
async function settle() {
  await server.app.services.background.idle();
  await server.app.services.mailer.outbox.deliverDue();
}

function requestReset(email: string, tenant = tenantSlug) {
  return server.gql(REQUEST, { input: { tenant, email } });
}

async function resetLinkFor(email: string) {
  const before = smtp.to(email).length;
  expect((await requestReset(email)).data?.requestPasswordReset).toBe(true);
  const mails = await smtp.waitFor(email, before + 1);
  return mails[mails.length - 1];
}

describe('requestPasswordReset and resetPassword', () => {
  it('emails a link to {PUBLIC_URL}/reset-password; following it sets the password and ends every session', async () => {
    const user = await registerUser(server, tenantSlug);
    const other = await loginUser(server, user);
    const mail = await resetLinkFor(user.email);
    expect(mail?.from).toBe('no-reply@acme.test');
    expect(mail?.subject).toContain('Acme <Corp> & "Friends"');
    expect(mail?.link).toMatch(new RegExp(`^${PUBLIC_URL}/reset-password\\?token=[A-Za-z0-9_.-]+$`));
    // The plain-text part has the link verbatim; the HTML part escapes the tenant's name.
    expect(mail?.text).toContain(mail?.link as string);
    expect(mail?.html).toContain('Acme &lt;Corp&gt; &amp; &quot;Friends&quot;');
    expect(mail?.html).not.toContain('Acme <Corp>');

    const newPassword = strongPassword();
    const reset = await server.gql(RESET, { input: { token: tokenOf(mail?.link), newPassword } });
    expect(reset.data?.resetPassword).toBe(true);

    expect(errorCode(await attemptLogin(server, tenantSlug, user.email, user.password))).toBe(
      'UNAUTHENTICATED',
    );
    const signedIn = await loginUser(server, { ...user, password: newPassword });
    expect(await tokenWorks(server, user.accessToken)).toBe(false);
    expect(await tokenWorks(server, other.accessToken)).toBe(false);
    expect(await tokenWorks(server, signedIn.accessToken)).toBe(true);
    const ended = await server.testDatabase.database.db
      .select({ reason: sessions.endReason })
      .from(sessions)
      .where(eq(sessions.id, user.sessionId));
    expect(ended[0]?.reason).toBe('PASSWORD_RESET');
    const me = await server.gql('{ me { emailVerifiedAt } }', {}, { token: signedIn.accessToken });
    expect(me.data?.me.emailVerifiedAt).not.toBeNull();
    const audit = await server.testDatabase.database.db
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(and(eq(auditEvents.targetId, user.userId), eq(auditEvents.action, 'password.reset')));
    expect(audit).toHaveLength(1);
  });

  it('a link works once; used, unknown, malformed and expired tokens are BAD_USER_INPUT on token, never echoed', async () => {
    const user = await registerUser(server, tenantSlug);
    const token = tokenOf((await resetLinkFor(user.email))?.link);
    const expired = tokenOf((await resetLinkFor(user.email))?.link);
    expect(
      (await server.gql(RESET, { input: { token, newPassword: strongPassword() } })).data?.resetPassword,
    ).toBe(true);
    const garbage = `${token.slice(0, 23)}${'A'.repeat(43)}`;
    for (const bad of [token, garbage, 'not-a-token', '']) {
      const response = await server.gql(RESET, { input: { token: bad, newPassword: strongPassword() } });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'token', message: expect.any(String) },
      ]);
      if (bad.length > 0) expect(JSON.stringify(response)).not.toContain(bad);
    }
    // The second link was voided by the reset; a fresh one expires after 30 minutes.
    expect(
      errorCode(await server.gql(RESET, { input: { token: expired, newPassword: strongPassword() } })),
    ).toBe('BAD_USER_INPUT');
    const late = tokenOf((await resetLinkFor(user.email))?.link);
    server.clock.advance(30 * 60_000 + 1_000);
    try {
      const response = await server.gql(RESET, { input: { token: late, newPassword: strongPassword() } });
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'token', message: expect.any(String) },
      ]);
    } finally {
      server.clock.advance(-(30 * 60_000 + 1_000));
    }
  });

  it('a weak new password is BAD_USER_INPUT on newPassword and leaves the link usable', async () => {
    const user = await registerUser(server, tenantSlug);
    const token = tokenOf((await resetLinkFor(user.email))?.link);
    const weak = await server.gql(RESET, { input: { token, newPassword: 'password' } });
    expect(errorCode(weak)).toBe('BAD_USER_INPUT');
    const fields = weak.errors?.[0]?.extensions?.fields as { field: string }[];
    expect(fields.length).toBeGreaterThan(0);
    expect(fields.every((f) => f.field === 'newPassword')).toBe(true);
    expect(
      (await server.gql(RESET, { input: { token, newPassword: strongPassword() } })).data?.resetPassword,
    ).toBe(true);
  });

  it('clears a lockout', async () => {
    const user = await registerUser(server, tenantSlug);
    for (let i = 0; i < 6; i++) await attemptLogin(server, tenantSlug, user.email, 'wrong password entirely');
    expect(errorCode(await attemptLogin(server, tenantSlug, user.email, user.password))).toBe(
      'UNAUTHENTICATED',
    );
    const newPassword = strongPassword();
    const token = tokenOf((await resetLinkFor(user.email))?.link);
    expect((await server.gql(RESET, { input: { token, newPassword } })).data?.resetPassword).toBe(true);
    await loginUser(server, { ...user, password: newPassword });
  });

  it("points links at the tenant's appUrl when it has one", async () => {
    const tenant = await createTenant(server, { settings: { appUrl: 'https://app.acme.test/auth' } });
    const user = await registerUser(server, tenant.slug);
    expect((await requestReset(user.email, tenant.slug)).data?.requestPasswordReset).toBe(true);
    const [mail] = await smtp.waitFor(user.email);
    expect(mail?.link).toMatch(/^https:\/\/app\.acme\.test\/auth\/reset-password\?token=/);
  });
});

describe('anti-enumeration and abuse', () => {
  it('answers the same for an active account, an unknown email, a suspended account and an unknown tenant, and mails only the first', async () => {
    const active = await registerUser(server, tenantSlug);
    const suspendedTenant = await createTenant(server, { status: 'SUSPENDED' });
    const unknownEmail = `${unique('nobody')}@example.test`;
    const answers = await Promise.all([
      requestReset(active.email),
      requestReset(unknownEmail),
      requestReset(active.email, suspendedTenant.slug),
      requestReset(active.email, unique('no-such-tenant')),
    ]);
    const shapes = answers.map(({ status, data, errors }) => JSON.stringify({ status, data, errors }));
    expect(new Set(shapes).size).toBe(1);
    expect(answers[0]?.data?.requestPasswordReset).toBe(true);
    await settle();
    expect(smtp.to(active.email)).toHaveLength(1);
    expect(smtp.to(unknownEmail)).toHaveLength(0);
  });

  it('takes the same time whether or not the account exists (the look-up happens after the answer)', async () => {
    const existing = await Promise.all([1, 2, 3].map(() => registerUser(server, tenantSlug)));
    const time = async (email: string) => {
      const started = performance.now();
      await requestReset(email);
      return performance.now() - started;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let round = 0; round < 6; round++) {
      for (const user of existing) known.push(await time(user.email));
      for (let i = 0; i < existing.length; i++) unknown.push(await time(`${unique('ghost')}@example.test`));
      await settle();
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    // Both answer without touching the database; a database write would add milliseconds.
    expect(Math.abs(median(known) - median(unknown))).toBeLessThan(Math.max(3, median(unknown)));
  });

  it('sends at most EMAIL_PER_ADDRESS_PER_HOUR reset emails to one address, whatever is asked', async () => {
    const victim = await registerUser(server, tenantSlug);
    for (let i = 0; i < 8; i++)
      expect((await requestReset(victim.email)).data?.requestPasswordReset).toBe(true);
    await settle();
    expect(smtp.to(victim.email)).toHaveLength(3);
  });

  it('a malformed email is BAD_USER_INPUT (it names no account)', async () => {
    const response = await requestReset('not an email');
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
  });

  it('stores only hashes of tokens', async () => {
    const user = await registerUser(server, tenantSlug);
    const token = tokenOf((await resetLinkFor(user.email))?.link);
    const secret = token.split('.')[1] as string;
    await settle();
    const dump = JSON.stringify(
      await server.testDatabase.database.db.execute(
        // Every table that could hold it: the tokens and the outbox (erased once delivered).
        sql`select t::text from email_tokens t union all select o::text from email_outbox o`,
      ),
    );
    expect(dump).not.toContain(secret);
    expect(secret.length).toBeGreaterThanOrEqual(43); // 256 bits, base64url
  });
});
