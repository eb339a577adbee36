import { createHash } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { sessions, users } from '../src/db/schema.js';
import {
  attemptRefresh,
  createTenant,
  loginUser,
  registerUser,
  type SignedIn,
  tokenWorks,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/** Refresh tokens: opaque, stored hashed, single use, bound to one session of fixed lifetime. */

const server = useTestServer();
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

async function refreshOk(refreshToken: string) {
  const response = await attemptRefresh(server, refreshToken);
  expect(response.errors).toBeUndefined();
  return response.data?.refresh as NonNullable<typeof response.data>['refresh'];
}

async function expectRefused(refreshToken: string) {
  const response = await attemptRefresh(server, refreshToken);
  expect(errorCode(response)).toBe('UNAUTHENTICATED');
  expect(response.data ?? null).toBeNull();
  expect(JSON.stringify(response)).not.toContain(refreshToken);
}

async function sessionRow(id: string) {
  const [row] = await server.testDatabase.database.db.select().from(sessions).where(eq(sessions.id, id));
  return row;
}

describe('refresh tokens at rest', () => {
  it('are the tenant id and 256 random bits, and the database only ever holds their SHA-256', async () => {
    const user = await registerUser(server, tenantSlug);
    const second = await loginUser(server, user);
    const rotated = await refreshOk(user.refreshToken);
    const issued = [user.refreshToken, second.refreshToken, rotated.refreshToken];
    const tenantId = (await sessionRow(user.sessionId))?.tenantId;
    for (const token of issued) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
      const [tenant, secret] = token.split('.') as [string, string];
      expect(Buffer.from(tenant, 'base64url').toString('hex')).toBe(tenantId?.replaceAll('-', ''));
      expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    }
    expect(new Set(issued).size).toBe(3);

    const current = await sessionRow(user.sessionId);
    expect(current?.refreshTokenHash.equals(createHash('sha256').update(rotated.refreshToken).digest())).toBe(
      true,
    );

    // Every row of every table that could hold one, as text (bytea shows as hex).
    const { db } = server.testDatabase.database;
    const dump: string[] = [];
    for (const table of ['sessions', 'spent_refresh_tokens', 'audit_events', 'users']) {
      const rows = (await db.execute(sql.raw(`select t::text as row from ${table} t`))) as unknown as {
        row: string;
      }[];
      dump.push(...rows.map((r) => r.row));
    }
    expect(dump.length).toBeGreaterThan(4);
    const text = dump.join('\n');
    for (const token of issued) {
      const secret = token.split('.')[1] as string;
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret, 'base64url').toString('hex'));
    }
  });
});

describe('the tenant inside a refresh token', () => {
  it("cannot be swapped for another tenant's: the token is refused and its session is untouched", async () => {
    const user = await registerUser(server, tenantSlug);
    const elsewhere = await registerUser(server, (await createTenant(server)).slug);
    const [, secret] = user.refreshToken.split('.') as [string, string];
    const [otherTenant] = elsewhere.refreshToken.split('.') as [string, string];
    await expectRefused(`${otherTenant}.${secret}`);
    await expectRefused(`${'A'.repeat(22)}.${secret}`);
    expect((await sessionRow(user.sessionId))?.endedAt).toBeNull();
    expect((await refreshOk(user.refreshToken)).session.id).toBe(user.sessionId);
  });

  it('is not needed by a token issued before tokens carried it: it still refreshes, once, into a new-format token', async () => {
    const user = await registerUser(server, tenantSlug);
    // A session as it was before: its current token is 256 random bits alone, and marked so.
    const legacy = Buffer.alloc(32, 9).toString('base64url');
    await server.testDatabase.database.db
      .update(sessions)
      .set({ refreshTokenHash: createHash('sha256').update(legacy).digest(), legacyRefreshToken: true })
      .where(eq(sessions.id, user.sessionId));
    const refreshed = await refreshOk(legacy);
    expect(refreshed.session.id).toBe(user.sessionId);
    expect(refreshed.refreshToken).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(await tokenWorks(server, refreshed.accessToken)).toBe(true);
    expect((await sessionRow(user.sessionId))?.legacyRefreshToken).toBe(false);
    // Spent, it fails like any unknown token (it cannot be told from one without its tenant).
    await expectRefused(legacy);
    expect((await refreshOk(refreshed.refreshToken)).session.id).toBe(user.sessionId);
  });
});

describe('rotation', () => {
  it('returns a new pair for the same session, and the old refresh token stops working', async () => {
    const user = await registerUser(server, tenantSlug);
    server.clock.advance(60_000);
    const first = await refreshOk(user.refreshToken);
    expect(first.refreshToken).not.toBe(user.refreshToken);
    expect(first.accessToken).not.toBe(user.accessToken);
    expect(first.session.id).toBe(user.sessionId);
    expect(decodeJwt(first.accessToken).sid).toBe(user.sessionId);
    expect(first.user.id).toBe(user.userId);
    // The session's end does not move, and it shows as used just now.
    expect(first.refreshTokenExpiresAt).toBe(user.refreshTokenExpiresAt);
    expect(new Date(first.session.lastUsedAt).getTime()).toBe(server.clock.now().getTime());
    expect(await tokenWorks(server, first.accessToken)).toBe(true);

    const second = await refreshOk(first.refreshToken);
    expect(second.session.id).toBe(user.sessionId);
    expect(decodeJwt(second.accessToken).sid).toBe(user.sessionId);
    expect(await tokenWorks(server, second.accessToken)).toBe(true);
  });

  it('issues a token with the role the user has now, not the one they signed in with', async () => {
    const user = await registerUser(server, tenantSlug);
    expect(decodeJwt(user.accessToken).role).toBe('USER');
    await server.testDatabase.database.db
      .update(users)
      .set({ role: 'MODERATOR' })
      .where(eq(users.id, user.userId));
    const refreshed = await refreshOk(user.refreshToken);
    expect(decodeJwt(refreshed.accessToken).role).toBe('MODERATOR');
    expect(refreshed.user.role).toBe('MODERATOR');
  });

  it('refuses unknown, malformed and logged-out refresh tokens alike', async () => {
    const user = await registerUser(server, tenantSlug);
    await expectRefused(Buffer.alloc(32, 7).toString('base64url'));
    await expectRefused('short');
    await expectRefused(`${user.refreshToken}x`);
    expect((await server.gql('mutation { logout }', {}, { token: user.accessToken })).data?.logout).toBe(
      true,
    );
    await expectRefused(user.refreshToken);
  });
});

describe('reuse of a spent refresh token', () => {
  it('after the grace, ends the whole session: the newest refresh and access tokens stop working too', async () => {
    const user = await registerUser(server, tenantSlug);
    const first = await refreshOk(user.refreshToken);
    const latest = await refreshOk(first.refreshToken);
    // Used once, so the server has it verified and its session cached.
    expect(await tokenWorks(server, latest.accessToken)).toBe(true);

    // REFRESH_REUSE_GRACE_SECONDS is 10 by default.
    server.clock.advance(10_001);
    await expectRefused(user.refreshToken);

    expect(await tokenWorks(server, latest.accessToken)).toBe(false);
    await expectRefused(latest.refreshToken);
    const row = await sessionRow(user.sessionId);
    expect(row?.endReason).toBe('REFRESH_TOKEN_REUSE');
    expect(row?.endedAt).not.toBeNull();
    // The user's other sessions are not the thief's: they go on.
    const other = await loginUser(server, user);
    expect(await tokenWorks(server, other.accessToken)).toBe(true);
  });
});

describe('the reuse grace (two tabs refreshing at once)', () => {
  it('answers every parallel refresh with one token, all with the same current token, and the session lives', async () => {
    for (let round = 0; round < 3; round++) {
      const user = await registerUser(server, tenantSlug);
      const answers = await Promise.all(
        Array.from({ length: round + 2 }, () => attemptRefresh(server, user.refreshToken)),
      );
      for (const answer of answers) expect(answer.errors).toBeUndefined();
      const refreshed = answers.map(
        (answer) => answer.data?.refresh as NonNullable<typeof answer.data>['refresh'],
      );
      expect(new Set(refreshed.map((r) => r.refreshToken)).size).toBe(1);
      expect(refreshed.every((r) => r.session.id === user.sessionId)).toBe(true);
      for (const r of refreshed) expect(await tokenWorks(server, r.accessToken)).toBe(true);
      expect((await sessionRow(user.sessionId))?.endedAt).toBeNull();
      // The shared successor goes on rotating as usual.
      const next = await refreshOk(refreshed[0]?.refreshToken as string);
      expect(next.session.id).toBe(user.sessionId);
    }
  });

  it('hands a late tab the token the session holds now, even after further rotations', async () => {
    const user = await registerUser(server, tenantSlug);
    const first = await refreshOk(user.refreshToken);
    server.clock.advance(2_000);
    const second = await refreshOk(first.refreshToken);
    server.clock.advance(2_000);
    const late = await refreshOk(user.refreshToken);
    expect(late.refreshToken).toBe(second.refreshToken);
    expect(await tokenWorks(server, late.accessToken)).toBe(true);
    expect((await refreshOk(late.refreshToken)).session.id).toBe(user.sessionId);
  });

  it('gives nothing for a spent token once its session has ended, even within the grace', async () => {
    const user = await registerUser(server, tenantSlug);
    const first = await refreshOk(user.refreshToken);
    expect((await server.gql('mutation { logout }', {}, { token: first.accessToken })).data?.logout).toBe(
      true,
    );
    await expectRefused(user.refreshToken);
    expect((await sessionRow(user.sessionId))?.endReason).toBe('LOGOUT');
  });

  it('ends at the configured number of seconds (injected clock)', async () => {
    const user = await registerUser(server, tenantSlug);
    await refreshOk(user.refreshToken);
    server.clock.advance(10_000);
    // At the edge of the grace: still a second tab.
    expect((await refreshOk(user.refreshToken)).session.id).toBe(user.sessionId);
    server.clock.advance(1);
    await expectRefused(user.refreshToken);
    expect((await sessionRow(user.sessionId))?.endReason).toBe('REFRESH_TOKEN_REUSE');
  });
});

describe('absolute session lifetime', () => {
  it('is the tenant refreshTokenTtlSeconds from sign-in, and refreshing never extends it', async () => {
    const tenant = await createTenant(server, { settings: { refreshTokenTtlSeconds: 3_600 } });
    const user = await registerUser(server, tenant.slug);
    const signedInAt = new Date(user.session.createdAt).getTime();
    const end = signedInAt + 3_600_000;
    expect(new Date(user.refreshTokenExpiresAt).getTime()).toBe(end);
    expect(new Date(user.session.expiresAt).getTime()).toBe(end);

    let refreshToken = user.refreshToken;
    for (const step of [1_500_000, 1_500_000]) {
      server.clock.advance(step);
      const refreshed = await refreshOk(refreshToken);
      expect(new Date(refreshed.refreshTokenExpiresAt).getTime()).toBe(end);
      // An access token never outlives its session.
      expect(new Date(refreshed.accessTokenExpiresAt).getTime()).toBeLessThanOrEqual(end);
      expect(await tokenWorks(server, refreshed.accessToken)).toBe(true);
      refreshToken = refreshed.refreshToken;
    }

    server.clock.set(end + 1_000);
    await expectRefused(refreshToken);
    const mine = await loginUser(server, user);
    const listed = await server.gql('{ mySessions { id } }', {}, { token: mine.accessToken });
    expect(listed.data?.mySessions.map((s: { id: string }) => s.id)).toEqual([mine.sessionId]);
  });
});

describe('a user with several sessions', () => {
  it('refreshes each on its own: rotating one leaves the other untouched', async () => {
    const user: SignedIn = await registerUser(server, tenantSlug);
    const other = await loginUser(server, user);
    const rotated = await refreshOk(user.refreshToken);
    expect(rotated.session.id).toBe(user.sessionId);
    const otherRotated = await refreshOk(other.refreshToken);
    expect(otherRotated.session.id).toBe(other.sessionId);
    expect(await tokenWorks(server, rotated.accessToken)).toBe(true);
    expect(await tokenWorks(server, otherRotated.accessToken)).toBe(true);
  });
});
