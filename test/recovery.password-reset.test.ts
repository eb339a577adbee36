import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../src/db/schema.js';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  attemptLogin,
  auditTrail,
  createTenant,
  loginUser,
  makeWorld,
  registerUser,
  signInSystemAdmin,
  strongPassword,
  type TenantWorld,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, type GraphQLResponse, startTestServer, useTestServer } from './support/server.js';
import { TestSmtpServer, tokenOf } from './support/smtp.js';
import { eventually, openSocket } from './support/ws.js';

/** Password reset by email, end to end: the link arrives at a real SMTP server and is followed. */

let smtp: TestSmtpServer;
let tenantSlug: string;
let tenantId: string;
const PUBLIC_URL = 'https://identity.example.test';

const REQUEST = 'mutation ($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) }';
const RESET = 'mutation ($input: ResetPasswordInput!) { resetPassword(input: $input) }';

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
});
afterAll(async () => {
  await smtp?.stop();
});
const server = useTestServer(() => ({
  SMTP_URL: smtp.url,
  PUBLIC_URL,
  MAIL_FROM: 'Acme Identity <no-reply@acme.test>',
  EMAIL_PER_ADDRESS_PER_HOUR: '3',
}));
beforeAll(async () => {
  ({ slug: tenantSlug, id: tenantId } = await createTenant(server, { name: 'Acme <Corp> & "Friends"' }));
});

/** Lets the background work and the outbox finish, so what was going to be sent has been. */
async function settle() {
  await server.app.services.background.idle();
  await server.app.services.mailer.outbox.deliverDue();
}

function requestReset(email: string, tenant = tenantSlug) {
  return server.gql(REQUEST, { input: { tenant, email } });
}

async function resetLinkFor(email: string, tenant = tenantSlug) {
  const before = smtp.to(email).length;
  expect((await requestReset(email, tenant)).data?.requestPasswordReset).toBe(true);
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

  it("tells the user's apps over sessionEnded (reason PASSWORD_RESET) and closes their sockets", async () => {
    const user = await registerUser(server, tenantSlug);
    const socket = openSocket(server.url, user.accessToken);
    try {
      await socket.connected;
      const events = socket.subscribe<{ sessionEnded: { sessionId: string; reason: string } }>(
        'subscription { sessionEnded { sessionId reason } }',
      );
      const topic = topics.sessionEnded(tenantId, user.userId);
      await eventually(() => server.app.services.events.listening(topic) > 0, 3_000, 'the subscription');
      const token = tokenOf((await resetLinkFor(user.email))?.link);
      expect(
        (await server.gql(RESET, { input: { token, newPassword: strongPassword() } })).data?.resetPassword,
      ).toBe(true);
      expect((await events.next()).sessionEnded).toEqual({
        sessionId: user.sessionId,
        reason: 'PASSWORD_RESET',
      });
      expect((await socket.closedWithin(2_000)).code).toBe(4403);
    } finally {
      await socket.dispose();
    }
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
    // Fresh accounts, so that every request for an existing one really writes a token and an
    // email (within the address's budget), as the first request of a real user would.
    const ROUNDS = 8;
    const PER_ROUND = 3;
    const existing = await Promise.all(
      Array.from({ length: ROUNDS * PER_ROUND + 1 }, () => registerUser(server, tenantSlug)),
    );
    const time = async (email: string) => {
      const started = performance.now();
      const answer = await requestReset(email);
      const elapsed = performance.now() - started;
      expect(answer.data?.requestPasswordReset).toBe(true);
      return elapsed;
    };
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    // Warm-up: the first requests of a process pay for compiling and connecting.
    await time((existing.pop() as { email: string }).email);
    await time(`${unique('warmup')}@example.test`);
    await settle();
    const measure = async (offset: number) => {
      const known: number[] = [];
      const unknown: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Interleaved, alternating which goes first: noise from the shared machine hits both alike.
        const users = existing.slice(round * PER_ROUND, (round + 1) * PER_ROUND);
        for (const [i, user] of users.entries()) {
          const ghost = `${unique('ghost')}@example.test`;
          if ((round + i + offset) % 2 === 0) {
            known.push(await time(user.email));
            unknown.push(await time(ghost));
          } else {
            unknown.push(await time(ghost));
            known.push(await time(user.email));
          }
        }
        await settle();
      }
      return median(known) / median(unknown);
    };
    let ratio = await measure(0);
    // One more try absorbs a burst of noise; a real difference (a database write before the
    // answer for existing accounts only) fails both.
    if (ratio > 1.5 || ratio < 1 / 1.5) ratio = await measure(1);
    console.info(`requestPasswordReset answer time, existing/unknown account: ${ratio.toFixed(2)}`);
    expect(ratio).toBeGreaterThan(1 / 1.5);
    expect(ratio).toBeLessThan(1.5);
    // And the existing accounts were really mailed (each at most EMAIL_PER_ADDRESS_PER_HOUR times).
    for (const user of existing) await smtp.waitFor(user.email);
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

describe('ADMIN operations: setUserPassword and sendPasswordReset', () => {
  const SET =
    'mutation ($id: ID!, $input: SetUserPasswordInput!) { setUserPassword(id: $id, input: $input) }';
  const SEND = 'mutation ($userId: ID!) { sendPasswordReset(userId: $userId) }';
  let world: TenantWorld;
  let system: Actor;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    world = await makeWorld(server, system);
  });

  it('setUserPassword sets the password, ends every session (PASSWORD_RESET), voids reset links, clears a lockout, and is audited', async () => {
    const user = await registerUser(server, world.slug);
    const other = await loginUser(server, user);
    const pendingLink = tokenOf((await resetLinkFor(user.email, world.slug))?.link);
    for (let i = 0; i < 6; i++) await attemptLogin(server, world.slug, user.email, 'wrong password entirely');

    const newPassword = strongPassword();
    const answer = await server.gql(
      SET,
      { id: user.userId, input: { newPassword } },
      { token: world.admin.token },
    );
    expect(answer.data?.setUserPassword).toBe(true);
    expect(JSON.stringify(answer)).not.toContain(newPassword);

    expect(await tokenWorks(server, user.accessToken)).toBe(false);
    expect(await tokenWorks(server, other.accessToken)).toBe(false);
    const reasons = await server.testDatabase.database.db
      .select({ reason: sessions.endReason })
      .from(sessions)
      .where(eq(sessions.userId, user.userId));
    expect(reasons.map((r) => r.reason)).toEqual(['PASSWORD_RESET', 'PASSWORD_RESET']);
    expect(errorCode(await attemptLogin(server, world.slug, user.email, user.password))).toBe(
      'UNAUTHENTICATED',
    );
    await loginUser(server, { ...user, password: newPassword });
    expect(
      errorCode(await server.gql(RESET, { input: { token: pendingLink, newPassword: strongPassword() } })),
    ).toBe('BAD_USER_INPUT');

    const audit = await auditTrail(server, world.id, 'password.set');
    expect(audit.filter((event) => event.targetId === user.userId)).toEqual([
      expect.objectContaining({ actorId: world.admin.userId, metadata: { endedSessions: 2 } }),
    ]);
  });

  it('setUserPassword: a weak password is BAD_USER_INPUT on newPassword; only ADMINs, only their own tenant', async () => {
    const user = await registerUser(server, world.slug);
    const weak = await server.gql(
      SET,
      { id: user.userId, input: { newPassword: 'password' } },
      {
        token: world.admin.token,
      },
    );
    expect(errorCode(weak)).toBe('BAD_USER_INPUT');
    expect(
      ((weak.errors?.[0]?.extensions?.fields ?? []) as { field: string }[]).map((f) => f.field),
    ).toContain('newPassword');
    for (const role of ['MODERATOR', 'USER', 'GUEST'] as const) {
      const refused = await server.gql(
        SET,
        { id: user.userId, input: { newPassword: strongPassword() } },
        {
          token: world.as[role].token,
        },
      );
      expect(errorCode(refused), role).toBe('FORBIDDEN');
    }
    const elsewhere = await registerUser(server, tenantSlug);
    const missing = await server.gql(
      SET,
      { id: elsewhere.userId, input: { newPassword: strongPassword() } },
      {
        token: world.admin.token,
      },
    );
    expect(errorCode(missing)).toBe('NOT_FOUND');
    expect(await tokenWorks(server, user.accessToken)).toBe(true);
    expect(await tokenWorks(server, elsewhere.accessToken)).toBe(true);
  });

  it('sendPasswordReset emails the user a link that resets the password; audited; only ADMINs; within the address budget', async () => {
    const user = await registerUser(server, world.slug);
    const answer = await server.gql(SEND, { userId: user.userId }, { token: world.admin.token });
    expect(answer.data?.sendPasswordReset).toBe(true);
    const [mail] = await smtp.waitFor(user.email);
    expect(mail?.link).toMatch(new RegExp(`^${PUBLIC_URL}/reset-password\\?token=`));
    const newPassword = strongPassword();
    expect(
      (await server.gql(RESET, { input: { token: tokenOf(mail?.link), newPassword } })).data?.resetPassword,
    ).toBe(true);
    await loginUser(server, { ...user, password: newPassword });
    expect(
      (await auditTrail(server, world.id, 'password.reset_sent')).filter((e) => e.targetId === user.userId),
    ).toEqual([expect.objectContaining({ actorId: world.admin.userId })]);

    for (const role of ['MODERATOR', 'USER', 'GUEST'] as const) {
      expect(
        errorCode(await server.gql(SEND, { userId: user.userId }, { token: world.as[role].token })),
        role,
      ).toBe('FORBIDDEN');
    }
    // Three per address and hour here: the first plus two more, then RATE_LIMITED.
    for (let i = 0; i < 2; i++) {
      expect((await server.gql(SEND, { userId: user.userId }, { token: world.admin.token })).data).toEqual({
        sendPasswordReset: true,
      });
    }
    const limited = await server.gql(SEND, { userId: user.userId }, { token: world.admin.token });
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    await settle();
    expect(smtp.to(user.email)).toHaveLength(3);
  });
});

describe('the per-IP budget', () => {
  it('is shared by requestPasswordReset, resetPassword, verifyEmail and acceptInvitation: past it, RATE_LIMITED alike for every address', async () => {
    const limited = await startTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: '4', SMTP_URL: smtp.url });
    try {
      const slug = (await createTenant(limited)).slug;
      const user = await registerUser(limited, slug);
      // register spent one attempt; three of the recovery mutations spend the rest.
      const attempts = [
        limited.gql(REQUEST, { input: { tenant: slug, email: user.email } }),
        limited.gql(RESET, { input: { token: 'nonsense', newPassword: strongPassword() } }),
        limited.gql('mutation ($input: VerifyEmailInput!) { verifyEmail(input: $input) }', {
          input: { token: 'nonsense' },
        }),
      ];
      const answers = [];
      for (const attempt of attempts) answers.push(await attempt);
      expect(answers[0]?.data?.requestPasswordReset).toBe(true);
      expect(errorCode(answers[1] as GraphQLResponse)).toBe('BAD_USER_INPUT');
      expect(errorCode(answers[2] as GraphQLResponse)).toBe('BAD_USER_INPUT');
      const refused = [
        await limited.gql(REQUEST, { input: { tenant: slug, email: user.email } }),
        await limited.gql(REQUEST, { input: { tenant: slug, email: `${unique('nobody')}@example.test` } }),
        await limited.gql(
          'mutation ($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken } }',
          { input: { token: 'nonsense', password: strongPassword() } },
        ),
      ];
      for (const answer of refused) {
        expect(answer.status).toBe(429);
        expect(errorCode(answer)).toBe('RATE_LIMITED');
        expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      const shape = (answer: GraphQLResponse) => JSON.stringify({ data: answer.data, errors: answer.errors });
      expect(shape(refused[0] as GraphQLResponse)).toBe(shape(refused[1] as GraphQLResponse));
    } finally {
      await limited.close();
    }
  });
});
