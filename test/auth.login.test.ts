import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../src/db/schema.js';
import {
  type AuthPayload,
  attemptLogin,
  createTenant,
  LOGIN,
  registerUser,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, SYSTEM_ADMIN, useTestServer } from './support/server.js';

/** Signing in: matching the email, failing alike, the sessions it creates, lockout and proxies. */

const server = useTestServer();
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
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

  it('finds non-ASCII emails as they were registered, and with ASCII-safe case changes', async () => {
    for (const local of ['İlker', 'Ärger', 'Σίσυφος']) {
      const user = await registerUser(server, tenantSlug, { email: `${local}.${unique('x')}@Example.test` });
      for (const email of [user.email, user.email.replace('Example', 'EXAMPLE')]) {
        const response = await attemptLogin(server, tenantSlug, email, user.password);
        expect(response.data?.login.user.id, email).toBe(user.userId);
      }
    }
    const umlaut = await registerUser(server, tenantSlug, { email: `Ärger.${unique('y')}@example.test` });
    const lower = await attemptLogin(
      server,
      tenantSlug,
      umlaut.email.replace('Ärger', 'ärger'),
      umlaut.password,
    );
    expect(lower.data?.login.user.id).toBe(umlaut.userId);
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
  const proxied = useTestServer({ TRUST_PROXY: 'true' });

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
