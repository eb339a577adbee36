import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sessions } from '../src/db/schema.js';
import {
  attemptRefresh,
  createTenant,
  loginUser,
  registerUser,
  type SignedIn,
  tokenWorks,
} from './support/fixtures.js';
import { errorCode, startTestServer, type TestServer, useTestServer } from './support/server.js';

/**
 * A token is only good while its session is: every way of ending a session makes the very next
 * request with its access token UNAUTHENTICATED, and its refresh token useless.
 */

const server = useTestServer();
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

const MY_SESSIONS = '{ mySessions { id current ipAddress userAgent createdAt lastUsedAt expiresAt } }';

async function mySessionIds(token: string): Promise<string[]> {
  const response = await server.gql(MY_SESSIONS, {}, { token });
  expect(response.errors).toBeUndefined();
  return response.data?.mySessions.map((s: { id: string }) => s.id).sort();
}

async function endReasons(ids: string[]) {
  const rows = await server.testDatabase.database.db
    .select({ id: sessions.id, endReason: sessions.endReason })
    .from(sessions)
    .where(inArray(sessions.id, ids));
  return Object.fromEntries(rows.map((r) => [r.id, r.endReason]));
}

/** A user signed in three times; every token used once, so the server has them cached. */
async function userWithThreeSessions(): Promise<SignedIn[]> {
  const first = await registerUser(server, tenantSlug);
  const all = [first, await loginUser(server, first), await loginUser(server, first)];
  for (const s of all) expect(await tokenWorks(server, s.accessToken)).toBe(true);
  return all;
}

async function refreshWorks(refreshToken: string): Promise<boolean> {
  const response = await attemptRefresh(server, refreshToken);
  if (response.data?.refresh) return true;
  expect(errorCode(response)).toBe('UNAUTHENTICATED');
  return false;
}

describe('mySessions', () => {
  it("lists the caller's active sessions, with current only on the caller's own", async () => {
    const [a, b, c] = (await userWithThreeSessions()) as [SignedIn, SignedIn, SignedIn];
    const stranger = await registerUser(server, tenantSlug);
    const response = await server.gql(MY_SESSIONS, {}, { token: b.accessToken });
    const listed = response.data?.mySessions as { id: string; current: boolean }[];
    expect(listed.map((s) => s.id).sort()).toEqual([a.sessionId, b.sessionId, c.sessionId].sort());
    expect(listed.filter((s) => s.current).map((s) => s.id)).toEqual([b.sessionId]);
    expect(listed.map((s) => s.id)).not.toContain(stranger.sessionId);
    for (const session of listed) {
      expect(session).toMatchObject({ ipAddress: '127.0.0.1', createdAt: expect.any(String) });
    }
  });

  it('needs a token', async () => {
    const response = await server.gql(MY_SESSIONS);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});

describe('logout', () => {
  it('ends the current session only: its tokens stop at once, the others go on', async () => {
    const [a, b] = (await userWithThreeSessions()) as [SignedIn, SignedIn, SignedIn];
    const response = await server.gql('mutation { logout }', {}, { token: a.accessToken });
    expect(response.data?.logout).toBe(true);
    expect(await tokenWorks(server, a.accessToken)).toBe(false);
    expect(await refreshWorks(a.refreshToken)).toBe(false);
    expect(await tokenWorks(server, b.accessToken)).toBe(true);
    expect(await mySessionIds(b.accessToken)).not.toContain(a.sessionId);
    expect((await endReasons([a.sessionId]))[a.sessionId]).toBe('LOGOUT');
  });
});

describe('revokeSession', () => {
  it('ends another session of the caller: its access and refresh tokens stop working', async () => {
    const [a, b, c] = (await userWithThreeSessions()) as [SignedIn, SignedIn, SignedIn];
    const response = await server.gql(
      'mutation ($id: ID!) { revokeSession(id: $id) }',
      { id: b.sessionId },
      {
        token: a.accessToken,
      },
    );
    expect(response.data?.revokeSession).toBe(true);
    expect(await tokenWorks(server, b.accessToken)).toBe(false);
    expect(await refreshWorks(b.refreshToken)).toBe(false);
    expect(await tokenWorks(server, a.accessToken)).toBe(true);
    expect(await mySessionIds(c.accessToken)).toEqual([a.sessionId, c.sessionId].sort());
    expect((await endReasons([b.sessionId]))[b.sessionId]).toBe('REVOKED');

    // Revoking it again, or the caller's own current session.
    const again = await server.gql(
      'mutation ($id: ID!) { revokeSession(id: $id) }',
      { id: b.sessionId },
      {
        token: a.accessToken,
      },
    );
    expect(errorCode(again)).toBe('NOT_FOUND');
    const own = await server.gql(
      'mutation ($id: ID!) { revokeSession(id: $id) }',
      { id: c.sessionId },
      {
        token: c.accessToken,
      },
    );
    expect(own.data?.revokeSession).toBe(true);
    expect(await tokenWorks(server, c.accessToken)).toBe(false);
  });

  it("answers NOT_FOUND for another user's session, which goes on working", async () => {
    const caller = await registerUser(server, tenantSlug);
    const victim = await registerUser(server, tenantSlug);
    const otherTenant = await registerUser(server, (await createTenant(server)).slug);
    const missing = '0190a8c4-0000-7000-8000-000000000000';
    const messages = new Set<string | undefined>();
    for (const id of [victim.sessionId, otherTenant.sessionId, missing, 'not-a-uuid']) {
      const response = await server.gql(
        'mutation ($id: ID!) { revokeSession(id: $id) }',
        { id },
        {
          token: caller.accessToken,
        },
      );
      expect(errorCode(response), id).toBe('NOT_FOUND');
      messages.add(response.errors?.[0]?.message);
    }
    expect(messages.size).toBe(1);
    expect(await tokenWorks(server, victim.accessToken)).toBe(true);
    expect(await tokenWorks(server, otherTenant.accessToken)).toBe(true);
  });
});

describe('logoutAll', () => {
  it('counts and ends every session of the user, the current one included', async () => {
    const all = await userWithThreeSessions();
    const [a, b] = all as [SignedIn, SignedIn, SignedIn];
    const bystander = await registerUser(server, tenantSlug);
    // An already-ended session is not counted again.
    expect((await server.gql('mutation { logout }', {}, { token: b.accessToken })).data?.logout).toBe(true);

    const response = await server.gql('mutation { logoutAll }', {}, { token: a.accessToken });
    expect(response.data?.logoutAll).toBe(2);
    for (const session of all) {
      expect(await tokenWorks(server, session.accessToken)).toBe(false);
      expect(await refreshWorks(session.refreshToken)).toBe(false);
    }
    expect(await tokenWorks(server, bystander.accessToken)).toBe(true);
    const reasons = await endReasons(all.map((s) => s.sessionId));
    expect(Object.values(reasons).every((r) => r === 'LOGOUT')).toBe(true);

    // Signing in again works, and that new session is the only one.
    const fresh = await loginUser(server, a);
    expect(await mySessionIds(fresh.accessToken)).toEqual([fresh.sessionId]);
    const count = await server.gql('mutation { logoutAll }', {}, { token: fresh.accessToken });
    expect(count.data?.logoutAll).toBe(1);
  });
});

describe('across instances', () => {
  let other: TestServer;
  beforeAll(async () => {
    // A second instance of the same deployment: same database, same Redis prefix.
    other = await startTestServer({}, { database: server.testDatabase });
    // Both instances subscribed to each other's invalidations, and so caching session checks.
    await vi.waitFor(() => {
      for (const s of [server, other]) expect(s.app.services.sessionGuard.cachingEnabled).toBe(true);
    });
  });
  afterAll(async () => {
    await other?.close();
  });

  it('refuses at once on every instance a token whose session ended on another', async () => {
    const user = await registerUser(server, tenantSlug);
    const second = await loginUser(server, user);
    const third = await loginUser(server, user);
    // Verified and cached by the other instance first.
    for (const s of [user, second, third]) expect(await tokenWorks(other, s.accessToken)).toBe(true);
    expect(other.app.services.sessionGuard.size).toBeGreaterThanOrEqual(3);

    expect((await server.gql('mutation { logout }', {}, { token: user.accessToken })).data?.logout).toBe(
      true,
    );
    expect(await tokenWorks(other, user.accessToken)).toBe(false);

    const revoked = await server.gql(
      'mutation ($id: ID!) { revokeSession(id: $id) }',
      { id: second.sessionId },
      {
        token: third.accessToken,
      },
    );
    expect(revoked.data?.revokeSession).toBe(true);
    expect(await tokenWorks(other, second.accessToken)).toBe(false);

    expect(
      (await other.gql('mutation { logoutAll }', {}, { token: third.accessToken })).data?.logoutAll,
    ).toBe(1);
    expect(await tokenWorks(server, third.accessToken)).toBe(false);
  });
});
