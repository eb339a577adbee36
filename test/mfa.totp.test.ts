import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, mfaTotp, users } from '../src/db/schema.js';
import {
  attemptLogin,
  attemptRefresh,
  createTenant,
  loginUser,
  registerUser,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import {
  CONFIRM_TOTP,
  completeWithCode,
  enrolTotp,
  jwtClaims,
  MY_MFA,
  passwordStep,
  START_TOTP,
  totpCode,
} from './support/mfa.js';
import { errorCode, useTestServer } from './support/server.js';

/** TOTP: enrolment, the two-step sign-in, codes used once, recovery codes, and guessing. */

const server = useTestServer({ KEY_ENCRYPTION_KEY: 'k'.repeat(40) });
let tenantSlug: string;
let tenantName: string;

beforeAll(async () => {
  const tenant = await createTenant(server, {
    name: `Acme ${unique('t')}`,
    settings: { maxFailedLogins: 6 },
  });
  tenantSlug = tenant.slug;
  tenantName = tenant.name;
});

async function auditActions(tenantUserId: string): Promise<string[]> {
  const rows = await server.testDatabase.database.db
    .select({ action: auditEvents.action })
    .from(auditEvents)
    .where(eq(auditEvents.targetId, tenantUserId))
    .orderBy(auditEvents.createdAt, auditEvents.id);
  return rows.map((r) => r.action);
}

describe('enrolment', () => {
  it('hands out a secret and an otpauth URI, turns on with a right code and gives 10 single-use recovery codes', async () => {
    const user = await registerUser(server, tenantSlug);
    const started = await server.gql(START_TOTP, {}, { token: user.accessToken });
    const { secret, otpauthUri } = started.data?.startTotpEnrollment ?? {};
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe(tenantName);
    expect(decodeURIComponent(uri.pathname)).toContain(user.email);

    // Not on before it is confirmed.
    expect((await server.gql(MY_MFA, {}, { token: user.accessToken })).data?.myMfa.totpEnabled).toBe(false);
    const wrong = await server.gql(
      CONFIRM_TOTP,
      { input: { code: totpCode(secret, new Date(server.clock.now().getTime() + 10 * 60_000)) } },
      { token: user.accessToken },
    );
    expect(errorCode(wrong)).toBe('BAD_USER_INPUT');

    const confirmed = await server.gql(
      CONFIRM_TOTP,
      { input: { code: totpCode(secret, server.clock.now()) } },
      { token: user.accessToken },
    );
    const codes = confirmed.data?.confirmTotpEnrollment.codes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);

    const status = await server.gql(
      `{ myMfa { totpEnabled recoveryCodesRemaining } me { mfaEnabled } }`,
      {},
      {
        token: user.accessToken,
      },
    );
    expect(status.data).toEqual({
      myMfa: { totpEnabled: true, recoveryCodesRemaining: 10 },
      me: { mfaEnabled: true },
    });
    expect(await auditActions(user.userId)).toEqual(
      expect.arrayContaining(['mfa.totp.enrollment_started', 'mfa.totp.enabled']),
    );

    // Encrypted at rest with KEY_ENCRYPTION_KEY: the row holds no trace of the secret.
    const [row] = await server.testDatabase.database.db
      .select()
      .from(mfaTotp)
      .where(and(eq(mfaTotp.userId, user.userId)));
    expect(row?.secret.startsWith('enc:v1:')).toBe(true);
    expect(row?.secret).not.toContain(secret);

    // A second enrolment while one is on is refused.
    expect(errorCode(await server.gql(START_TOTP, {}, { token: user.accessToken }))).toBe('CONFLICT');
  });
});

describe('two-step sign-in', () => {
  it('answers MFA_REQUIRED with an mfaToken and no tokens, then signs in with a code; amr says how', async () => {
    const user = await enrolTotp(server, await registerUser(server, tenantSlug));
    const { mfaToken, methods, response } = await passwordStep(server, user);
    expect(response.data?.login ?? null).toBeNull();
    expect(JSON.stringify(response)).not.toMatch(/accessToken"\s*:\s*"/);
    expect(methods).toEqual(['TOTP', 'RECOVERY_CODE']);
    expect(typeof mfaToken).toBe('string');

    const done = await completeWithCode(server, mfaToken, 'TOTP', totpCode(user.secret, server.clock.now()));
    expect(done.errors).toBeUndefined();
    const payload = done.data?.completeMfaLogin;
    expect(payload?.user.id).toBe(user.userId);
    expect(jwtClaims(payload?.accessToken ?? '').amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(await tokenWorks(server, payload?.accessToken ?? '')).toBe(true);

    // The token is single use.
    server.clock.advance(30_000);
    const again = await completeWithCode(server, mfaToken, 'TOTP', totpCode(user.secret, server.clock.now()));
    expect(errorCode(again)).toBe('UNAUTHENTICATED');

    // Refreshing does not ask again, and keeps what the session was authenticated with.
    const refreshed = await attemptRefresh(server, payload?.refreshToken ?? '');
    expect(refreshed.errors).toBeUndefined();
    expect(jwtClaims(refreshed.data?.refresh.accessToken ?? '').amr).toEqual(['pwd', 'otp', 'mfa']);
  });

  it('a wrong password says the same as for an account without MFA', async () => {
    const plain = await registerUser(server, tenantSlug);
    const protectedUser = await enrolTotp(server, await registerUser(server, tenantSlug));
    const answers = await Promise.all([
      attemptLogin(server, tenantSlug, plain.email, `${plain.password}x`),
      attemptLogin(server, tenantSlug, protectedUser.email, `${protectedUser.password}x`),
    ]);
    for (const answer of answers) {
      expect(errorCode(answer)).toBe('UNAUTHENTICATED');
      expect(answer.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
    }
    expect(answers[0]?.errors?.[0]?.message).toBe(answers[1]?.errors?.[0]?.message);
    expect(answers[0]?.status).toBe(answers[1]?.status);
  });

  it('accepts a code once per time step, one step either side, and nothing older', async () => {
    const user = await enrolTotp(server, await registerUser(server, tenantSlug));
    const now = server.clock.now();
    const current = totpCode(user.secret, now);
    const first = await passwordStep(server, user);
    expect((await completeWithCode(server, first.mfaToken, 'TOTP', current)).errors).toBeUndefined();
    // The same code again (another sign-in in the same step): refused.
    const second = await passwordStep(server, user);
    expect(errorCode(await completeWithCode(server, second.mfaToken, 'TOTP', current))).toBe(
      'UNAUTHENTICATED',
    );
    // The next step's code is fine (a clock one step ahead)...
    const next = totpCode(user.secret, new Date(now.getTime() + 30_000));
    const third = await passwordStep(server, user);
    expect((await completeWithCode(server, third.mfaToken, 'TOTP', next)).errors).toBeUndefined();
    // ...but a code two steps old never is.
    server.clock.advance(90_000);
    const old = totpCode(user.secret, new Date(server.clock.now().getTime() - 60_000));
    const fourth = await passwordStep(server, user);
    expect(errorCode(await completeWithCode(server, fourth.mfaToken, 'TOTP', old))).toBe('UNAUTHENTICATED');
  });
});

describe('recovery codes', () => {
  it('each works once, in any case and with or without its dash; regenerating replaces them all', async () => {
    const user = await enrolTotp(server, await registerUser(server, tenantSlug));
    const [code, other] = user.recoveryCodes as [string, string];
    const step = await passwordStep(server, user);
    const done = await completeWithCode(
      server,
      step.mfaToken,
      'RECOVERY_CODE',
      code.toUpperCase().replace('-', ' '),
    );
    expect(done.errors).toBeUndefined();
    const token = done.data?.completeMfaLogin.accessToken ?? '';
    expect(jwtClaims(token).amr).toEqual(['pwd', 'otp', 'mfa']);
    expect((await server.gql(MY_MFA, {}, { token })).data?.myMfa.recoveryCodesRemaining).toBe(9);

    const reuse = await passwordStep(server, user);
    expect(errorCode(await completeWithCode(server, reuse.mfaToken, 'RECOVERY_CODE', code))).toBe(
      'UNAUTHENTICATED',
    );

    const regenerated = await server.gql(
      'mutation R($input: ConfirmTotpInput!) { regenerateRecoveryCodes(input: $input) { codes } }',
      { input: { code: totpCode(user.secret, server.clock.now()) } },
      { token },
    );
    const fresh = regenerated.data?.regenerateRecoveryCodes.codes as string[];
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(other);
    const stale = await passwordStep(server, user);
    expect(errorCode(await completeWithCode(server, stale.mfaToken, 'RECOVERY_CODE', other))).toBe(
      'UNAUTHENTICATED',
    );
    const withFresh = await passwordStep(server, user);
    expect(
      (await completeWithCode(server, withFresh.mfaToken, 'RECOVERY_CODE', fresh[0] ?? '')).errors,
    ).toBeUndefined();
  });
});

describe('guessing the second factor', () => {
  it('ends an mfaToken after 3 wrong codes, and wrong codes add up to the lockout across tokens', async () => {
    const user = await enrolTotp(server, await registerUser(server, tenantSlug));
    const right = () => totpCode(user.secret, server.clock.now());
    const wrong = () => String((Number(right()) + 1) % 1_000_000).padStart(6, '0');

    const first = await passwordStep(server, user);
    for (let i = 0; i < 3; i++) {
      expect(errorCode(await completeWithCode(server, first.mfaToken, 'TOTP', wrong()))).toBe(
        'UNAUTHENTICATED',
      );
    }
    // The token is spent: even the right code does not finish it.
    expect(errorCode(await completeWithCode(server, first.mfaToken, 'TOTP', right()))).toBe(
      'UNAUTHENTICATED',
    );
    const [counted] = await server.testDatabase.database.db
      .select({ failedLoginCount: users.failedLoginCount })
      .from(users)
      .where(eq(users.id, user.userId));
    expect(counted?.failedLoginCount).toBe(3);

    // A right password does not clear the count; three more wrong codes reach the limit (6).
    const second = await passwordStep(server, user);
    for (let i = 0; i < 3; i++) {
      expect(errorCode(await completeWithCode(server, second.mfaToken, 'TOTP', wrong()))).toBe(
        'UNAUTHENTICATED',
      );
    }
    const locked = await attemptLogin(server, tenantSlug, user.email, user.password);
    expect(errorCode(locked)).toBe('UNAUTHENTICATED');
    const actions = await auditActions(user.userId);
    expect(actions.filter((a) => a === 'auth.login.failed').length).toBeGreaterThanOrEqual(6);
    expect(actions).toContain('auth.lockout');

    // After the lockout the account signs in again, and a completed sign-in clears the count.
    server.clock.advance(16 * 60_000);
    const after = await passwordStep(server, user);
    expect((await completeWithCode(server, after.mfaToken, 'TOTP', right())).errors).toBeUndefined();
    const [cleared] = await server.testDatabase.database.db
      .select({ failedLoginCount: users.failedLoginCount })
      .from(users)
      .where(eq(users.id, user.userId));
    expect(cleared?.failedLoginCount).toBe(0);
  });

  it('refuses tokens that were never issued, or of another shape, alike', async () => {
    for (const mfaToken of ['', 'x', `${crypto.randomUUID()}.${'A'.repeat(43)}`, 'a'.repeat(5000)]) {
      const answer = await completeWithCode(server, mfaToken, 'TOTP', '123456');
      expect(errorCode(answer)).toBe('UNAUTHENTICATED');
    }
  });
});

describe('turning TOTP off', () => {
  it('needs a code or the password; afterwards a password alone signs in', async () => {
    const user = await enrolTotp(server, await registerUser(server, tenantSlug));
    const disable = 'mutation D($input: DisableTotpInput!) { disableTotp(input: $input) }';
    expect(
      errorCode(
        await server.gql(
          disable,
          { input: { currentPassword: 'wrong password!!' } },
          { token: user.accessToken },
        ),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      errorCode(await server.gql(disable, { input: { code: '000000' } }, { token: user.accessToken })),
    ).toBe('BAD_USER_INPUT');
    const off = await server.gql(
      disable,
      { input: { currentPassword: user.password } },
      { token: user.accessToken },
    );
    expect(off.data?.disableTotp).toBe(true);
    const status = await server.gql(
      `{ myMfa { totpEnabled recoveryCodesRemaining } me { mfaEnabled } }`,
      {},
      {
        token: user.accessToken,
      },
    );
    expect(status.data).toEqual({
      myMfa: { totpEnabled: false, recoveryCodesRemaining: 0 },
      me: { mfaEnabled: false },
    });
    const signedIn = await loginUser(server, user);
    expect(jwtClaims(signedIn.accessToken).amr).toEqual(['pwd']);
    expect(await auditActions(user.userId)).toContain('mfa.totp.disabled');
  });
});
