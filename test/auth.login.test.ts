import { and, eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../src/db/schema.js';
import {
  type AuthPayload,
  attemptLogin,
  createTenant,
  LOGIN,
  REGISTER,
  registerUser,
  strongPassword,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, SYSTEM_ADMIN, startTestServer, type TestServer } from './support/server.js';

/** Signing up and signing in: who may, with what email, and what each sign-in leaves behind. */

let server: TestServer;
let tenantSlug: string;

beforeAll(async () => {
  // A future auth rate limit must not turn the parallel sign-ins below into RATE_LIMITED.
  server = await startTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: '100000' });
  tenantSlug = (await createTenant(server)).slug;
});
afterAll(async () => {
  await server?.close();
});

function register(input: Record<string, unknown>) {
  return server.gql(REGISTER, { input: { password: strongPassword(), ...input } });
}

describe('register', () => {
  it('signs the new user in with the tenant default role', async () => {
    const tenant = await createTenant(server, { settings: { defaultRole: 'GUEST' } });
    const email = `${unique('guest')}@example.test`;
    const response = await register({ tenant: tenant.slug, email, displayName: '  Grace  ' });
    expect(response.errors).toBeUndefined();
    const payload = response.data?.register;
    expect(payload).toMatchObject({
      tokenType: 'Bearer',
      user: { email, displayName: 'Grace', role: 'GUEST' },
      session: { current: true },
    });
    expect(decodeJwt(payload.accessToken)).toMatchObject({ role: 'GUEST', tid: tenant.id });
    const me = await server.gql('{ me { id role } }', {}, { token: payload.accessToken });
    expect(me.data?.me).toEqual({ id: payload.user.id, role: 'GUEST' });
  });

  it('is FORBIDDEN where the tenant does not allow self-registration, the system tenant included', async () => {
    const closed = await createTenant(server, { settings: { allowSelfRegistration: false } });
    for (const tenant of [closed.slug, 'system']) {
      const email = `${unique('closed')}@example.test`;
      const response = await register({ tenant, email });
      expect(errorCode(response)).toBe('FORBIDDEN');
      expect(response.data ?? null).toBeNull();
      // No account was made.
      expect(errorCode(await attemptLogin(server, tenant, email, 'whatever password'))).toBe(
        'UNAUTHENTICATED',
      );
    }
  });

  it('is NOT_FOUND at a tenant that does not exist', async () => {
    const response = await register({ tenant: unique('nowhere'), email: `${unique('u')}@example.test` });
    expect(errorCode(response)).toBe('NOT_FOUND');
  });

  it('rejects invalid emails with BAD_USER_INPUT on the email field', async () => {
    for (const email of [
      '',
      '   ',
      'plainaddress',
      'two@@example.test',
      'a@b@example.test',
      'no-domain@',
      'sp ace@example.test',
    ]) {
      const response = await register({ tenant: tenantSlug, email });
      expect(errorCode(response), email).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'email', message: expect.any(String) },
      ]);
    }
  });

  it('is CONFLICT for an email already taken in the tenant, in any case or padding', async () => {
    const taken = `${unique('Taken')}@Example.test`;
    await registerUser(server, tenantSlug, { email: taken });
    for (const email of [taken, taken.toLowerCase(), `  ${taken.toUpperCase()} `]) {
      const response = await register({ tenant: tenantSlug, email });
      expect(errorCode(response), email).toBe('CONFLICT');
    }
    // Another tenant is another namespace.
    const elsewhere = await createTenant(server);
    expect((await registerUser(server, elsewhere.slug, { email: taken })).email).toBe(taken);
  });
});

describe('login', () => {
  it('trims the email and ignores its case', async () => {
    const user = await registerUser(server, tenantSlug, { email: `${unique('Ada')}@Example.TEST` });
    for (const email of [`  ${user.email}  `, user.email.toLowerCase(), user.email.toUpperCase()]) {
      const response = await attemptLogin(server, ` ${tenantSlug.toUpperCase()} `, email, user.password);
      expect(response.errors, email).toBeUndefined();
      expect(response.data?.login.user.id).toBe(user.userId);
    }
  });

  it('answers an unknown email, a wrong password and an unknown tenant with the same UNAUTHENTICATED', async () => {
    const user = await registerUser(server, tenantSlug);
    const attempts = [
      attemptLogin(server, tenantSlug, `${unique('nobody')}@example.test`, user.password),
      attemptLogin(server, tenantSlug, user.email, `${user.password}-wrong`),
      attemptLogin(server, unique('notenant'), user.email, user.password),
    ];
    const answers = await Promise.all(attempts);
    for (const answer of answers) {
      expect(errorCode(answer)).toBe('UNAUTHENTICATED');
      expect(answer.data ?? null).toBeNull();
      expect(JSON.stringify(answer)).not.toContain(user.password);
    }
    const messages = answers.map((a) => a.errors?.[0]?.message);
    expect(new Set(messages).size).toBe(1);
    expect(answers.map((a) => a.status)).toEqual([
      answers[0]?.status,
      answers[0]?.status,
      answers[0]?.status,
    ]);
  });

  it('creates a new session per sign-in, recording IP, user agent, and times', async () => {
    const user = await registerUser(server, tenantSlug);
    server.clock.advance(5_000);
    const at = server.clock.now().getTime();
    const response = await attemptLogin(server, tenantSlug, user.email, user.password, {
      'user-agent': 'AuthTests/1.0 (laptop)',
      // Not trusted by default: this must not become the recorded address.
      'x-forwarded-for': '203.0.113.9',
    });
    const session = response.data?.login.session as AuthPayload['session'];
    expect(session.id).not.toBe(user.sessionId);
    expect(session).toMatchObject({
      ipAddress: '127.0.0.1',
      userAgent: 'AuthTests/1.0 (laptop)',
      current: true,
    });
    expect(new Date(session.createdAt).getTime()).toBe(at);
    expect(new Date(session.lastUsedAt).getTime()).toBe(at);
    expect(new Date(session.expiresAt).getTime()).toBe(at + server.config.jwt.refreshTokenTtlSeconds * 1000);

    const listed = await server.gql(
      '{ mySessions { id ipAddress userAgent createdAt current } }',
      {},
      { token: response.data?.login.accessToken, headers: { 'x-forwarded-for': '198.51.100.1' } },
    );
    expect(listed.data?.mySessions).toHaveLength(2);
    expect(listed.data?.mySessions).toContainEqual({
      id: session.id,
      ipAddress: '127.0.0.1',
      userAgent: 'AuthTests/1.0 (laptop)',
      createdAt: session.createdAt,
      current: true,
    });
  });

  it('lets the bootstrap admin of the system tenant in', async () => {
    const response = await attemptLogin(
      server,
      'system',
      SYSTEM_ADMIN.email.toUpperCase(),
      SYSTEM_ADMIN.password,
    );
    expect(response.data?.login.user.role).toBe('ADMIN');
  });

  it('gives 20 parallel sign-ins of one user 20 distinct, working sessions', async () => {
    const user = await registerUser(server, tenantSlug);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        server.gql(
          LOGIN,
          { input: { tenant: tenantSlug, email: user.email, password: user.password } },
          {
            headers: { 'user-agent': `parallel-${i}` },
          },
        ),
      ),
    );
    expect(answers.map((a) => a.errors?.[0]?.message ?? 'ok')).toEqual(Array(20).fill('ok'));
    const sessionIds = answers.map((a) => a.data?.login.session.id);
    expect(new Set(sessionIds).size).toBe(20);
    for (const answer of answers) {
      expect(await tokenWorks(server, answer.data?.login.accessToken)).toBe(true);
    }
    const listed = await server.gql(
      '{ mySessions { id } }',
      {},
      { token: answers[0]?.data?.login.accessToken },
    );
    expect(listed.data?.mySessions).toHaveLength(21);
  });
});

describe('lockout with parallel guesses', () => {
  it('evaluates at most maxFailedLogins guesses, then refuses even the right password until it ends', async () => {
    const tenant = await createTenant(server, { settings: { maxFailedLogins: 3, lockoutMinutes: 10 } });
    const user = await registerUser(server, tenant.slug);
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        attemptLogin(server, tenant.slug, user.email, `${user.password}${i}`),
      ),
    );
    for (const guess of guesses) expect(errorCode(guess)).toBe('UNAUTHENTICATED');
    const failures = await server.testDatabase.database.db
      .select({ metadata: auditEvents.metadata })
      .from(auditEvents)
      .where(and(eq(auditEvents.targetId, user.userId), eq(auditEvents.action, 'auth.login.failed')));
    const reasons = failures.map((f) => f.metadata?.reason);
    expect(reasons.filter((r) => r === 'bad_password')).toHaveLength(3);
    expect(reasons.filter((r) => r === 'locked')).toHaveLength(9);

    expect(errorCode(await attemptLogin(server, tenant.slug, user.email, user.password))).toBe(
      'UNAUTHENTICATED',
    );
    server.clock.advance(10 * 60_000 + 1_000);
    const after = await attemptLogin(server, tenant.slug, user.email, user.password);
    expect(after.data?.login.user.id).toBe(user.userId);
  });
});

describe('behind a trusted proxy (TRUST_PROXY=true)', () => {
  let proxied: TestServer;
  beforeAll(async () => {
    proxied = await startTestServer({ TRUST_PROXY: 'true' });
  });
  afterAll(async () => {
    await proxied?.close();
  });

  it('records the client address from X-Forwarded-For', async () => {
    const tenant = await createTenant(proxied);
    const user = await registerUser(proxied, tenant.slug, {
      headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2' },
    });
    expect(user.session.ipAddress).toBe('203.0.113.7');
    const again = await attemptLogin(proxied, tenant.slug, user.email, user.password, {
      'x-forwarded-for': '198.51.100.23',
    });
    expect(again.data?.login.session.ipAddress).toBe('198.51.100.23');
    // Without the header, the socket's address.
    const direct = await attemptLogin(proxied, tenant.slug, user.email, user.password);
    expect(direct.data?.login.session.ipAddress).toBe('127.0.0.1');
  });
});
