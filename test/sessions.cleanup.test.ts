import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions, spentRefreshTokens } from '../src/db/schema.js';
import { purgeAuditEvents } from '../src/modules/audit/retention.js';
import { cleanUpSessions } from '../src/modules/sessions/session-cleanup.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { attemptRefresh, createTenant, loginUser, registerUser } from './support/fixtures.js';
import { startTestServer, useTestServer } from './support/server.js';

/**
 * The periodic session cleanup (run by every instance): expired sessions are marked EXPIRED,
 * sessions ended or expired more than SESSION_RETENTION_DAYS ago are deleted with their spent
 * refresh tokens, and several instances running it at once do the work exactly once.
 */

const DAY = 86_400_000;
const server = useTestServer({
  REFRESH_TOKEN_TTL_SECONDS: String(DAY / 1000),
  SESSION_RETENTION_DAYS: '7',
});
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

const db = () => server.testDatabase.database.db;
const logout = async (token: string, on = server) => {
  const answer = await on.gql('mutation { logout }', {}, { token });
  expect(answer.data?.logout).toBe(true);
};

describe('session cleanup', () => {
  it('marks expired sessions EXPIRED and deletes those ended beyond the retention period, with their spent tokens', async () => {
    const start = server.clock.now().getTime();
    const user = await registerUser(server, tenantSlug);
    // A: refreshed (so it has a spent token), then ended at once. B: left to expire after a day.
    const a = await loginUser(server, user);
    const rotated = (await attemptRefresh(server, a.refreshToken)).data?.refresh;
    expect(rotated).toBeTruthy();
    await logout(rotated?.accessToken ?? '');
    const b = await loginUser(server, user);
    server.clock.set(start + 3 * DAY);
    const c = await loginUser(server, user);
    await logout(c.accessToken);
    server.clock.set(start + 7.9 * DAY);
    const d = await loginUser(server, user);
    server.clock.set(start + 8.95 * DAY);

    const done = await cleanUpSessions(db(), server.clock.now(), server.config.sessionRetentionDays);
    const rows = await db()
      .select({ id: sessions.id, endReason: sessions.endReason })
      .from(sessions)
      .where(inArray(sessions.id, [user.sessionId, a.sessionId, b.sessionId, c.sessionId, d.sessionId]));
    const left = Object.fromEntries(rows.map((row) => [row.id, row.endReason]));
    // Cut-off: 1.95 days after start. A (ended at 0) and B (expired at 1) go; C (ended at 3) stays.
    expect(left).toEqual({ [c.sessionId]: 'LOGOUT', [d.sessionId]: 'EXPIRED' });
    expect(done).toEqual({ expired: 3, deleted: 3 });
    const spent = await db()
      .select()
      .from(spentRefreshTokens)
      .where(eq(spentRefreshTokens.sessionId, a.sessionId));
    expect(spent).toEqual([]);
    // Running it again finds nothing more to do.
    expect(await cleanUpSessions(db(), server.clock.now(), 7)).toEqual({ expired: 0, deleted: 0 });
  });
});

describe('several instances running the periodic jobs at once', () => {
  let other: TestDatabase;
  beforeAll(async () => {
    other = await createTestDatabase({ poolMax: 8 });
  });
  afterAll(async () => {
    await other?.drop();
  });

  it('do the work exactly once, without errors', async () => {
    const now = server.clock.now();
    const seed = await startTestServer({}, { database: other });
    try {
      const slug = (await createTenant(seed)).slug;
      const user = await registerUser(seed, slug);
      for (let i = 0; i < 30; i++) await logout((await loginUser(seed, user)).accessToken, seed);
      // Eight "instances" (separate pool connections) run both jobs at the same moment, a year on.
      const later = new Date(now.getTime() + 400 * DAY);
      const runs = await Promise.all(
        Array.from({ length: 8 }, () =>
          Promise.all([
            cleanUpSessions(other.database.db, later, 7),
            purgeAuditEvents(other.database.db, later),
          ]),
        ),
      );
      const deleted = runs.reduce((sum, [cleaned]) => sum + cleaned.deleted, 0);
      const purged = runs.reduce((sum, [, events]) => sum + events, 0);
      expect(deleted).toBe(31);
      expect(purged).toBeGreaterThanOrEqual(61);
      expect(await other.database.db.select().from(sessions)).toEqual([]);
    } finally {
      await seed.close();
    }
  });
});
