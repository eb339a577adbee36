import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, users } from '../src/db/schema.js';
import {
  type Actor,
  attemptLogin,
  makeUser,
  makeWorld,
  PASSWORD,
  signInSystemAdmin,
  type TenantWorld,
} from './support/fixtures.js';
import { startTestServer, useTestServer } from './support/server.js';

/**
 * Per-account lockout: counted durably and atomically in PostgreSQL, lifted by the clock or by
 * unlockUser, and invisible in the sign-in answer.
 */

const WRONG = 'Not the right passphrase 9!';
const MAX = 3;
const MINUTES = 10;
const server = useTestServer();
let world: TenantWorld;
let system: Actor;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  world = await makeWorld(server, system);
  const settings = { maxFailedLogins: MAX, lockoutMinutes: MINUTES };
  const updated = await server.gql(
    'mutation ($id: ID!, $input: UpdateTenantInput!) { updateTenant(id: $id, input: $input) { id } }',
    { id: world.id, input: { settings } },
    { token: world.admin.token },
  );
  expect(updated.errors).toBeUndefined();
});

const login = (email: string, password: string) => attemptLogin(server, world.slug, email, password);

async function lockedUntilSeenBy(actor: Actor, userId: string): Promise<string | null> {
  const answer = await server.gql(
    'query ($id: ID!) { user(id: $id) { lockedUntil } }',
    { id: userId },
    { token: actor.token },
  );
  expect(answer.errors).toBeUndefined();
  return answer.data?.user.lockedUntil ?? null;
}

async function failureReasons(userId: string): Promise<string[]> {
  const rows = await server.testDatabase.database.db
    .select({ metadata: auditEvents.metadata })
    .from(auditEvents)
    .where(and(eq(auditEvents.targetId, userId), eq(auditEvents.action, 'auth.login.failed')))
    .orderBy(auditEvents.createdAt, auditEvents.id);
  return rows.map((row) => String(row.metadata?.reason));
}

async function lockouts(userId: string) {
  return server.testDatabase.database.db
    .select({ actorId: auditEvents.actorId, tenantId: auditEvents.tenantId })
    .from(auditEvents)
    .where(and(eq(auditEvents.targetId, userId), eq(auditEvents.action, 'auth.lockout')));
}

describe('lockout', () => {
  it('locks after maxFailedLogins failures: the right password then gets the same generic answer', async () => {
    const target = await makeUser(server, world.admin);
    const wrongAnswers = [];
    for (let i = 0; i < MAX; i++) wrongAnswers.push(await login(target.email, WRONG));
    const lockedAt = server.clock.now().getTime();
    const right = await login(target.email, PASSWORD);

    for (const answer of [...wrongAnswers, right]) {
      expect(answer.status).toBe(200);
      expect(answer.data ?? null).toBeNull();
      // Word for word what any wrong password gets: nothing says "locked".
      expect(answer.errors).toEqual(wrongAnswers[0]?.errors);
    }
    expect(wrongAnswers[0]?.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });

    const until = new Date(lockedAt + MINUTES * 60_000).toISOString();
    expect(await lockedUntilSeenBy(world.as.MODERATOR, target.id)).toBe(until);
    expect(await lockedUntilSeenBy(world.admin, target.id)).toBe(until);
    expect(await failureReasons(target.id)).toEqual([...Array(MAX).fill('bad_password'), 'locked']);
    expect(await lockouts(target.id)).toEqual([{ actorId: null, tenantId: world.id }]);
  });

  it('lifts itself when lockoutMinutes have passed, and counts afresh', async () => {
    const target = await makeUser(server, world.admin);
    for (let i = 0; i < MAX; i++) await login(target.email, WRONG);
    server.clock.advance((MINUTES - 1) * 60_000);
    expect((await login(target.email, PASSWORD)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    server.clock.advance(60_000 + 1_000);
    // Once the lock has run out it is no longer shown, even before the next sign-in attempt.
    expect(await lockedUntilSeenBy(world.admin, target.id)).toBeNull();
    const after = await login(target.email, PASSWORD);
    expect(after.errors).toBeUndefined();
    expect(after.data?.login.user.id).toBe(target.id);
    expect(await lockedUntilSeenBy(world.as.MODERATOR, target.id)).toBeNull();

    // A fresh count: MAX - 1 failures do not lock, the MAX-th does.
    for (let i = 0; i < MAX - 1; i++) await login(target.email, WRONG);
    expect(await lockedUntilSeenBy(world.admin, target.id)).toBeNull();
    await login(target.email, WRONG);
    expect(await lockedUntilSeenBy(world.admin, target.id)).not.toBeNull();
    expect((await login(target.email, PASSWORD)).data ?? null).toBeNull();
    expect(await lockouts(target.id)).toHaveLength(2);
  });

  it('is cleared at once by a MODERATOR with unlockUser', async () => {
    const target = await makeUser(server, world.admin);
    for (let i = 0; i < MAX; i++) await login(target.email, WRONG);
    expect((await login(target.email, PASSWORD)).data ?? null).toBeNull();

    const unlocked = await server.gql(
      'mutation ($id: ID!) { unlockUser(id: $id) { id lockedUntil } }',
      { id: target.id },
      { token: world.as.MODERATOR.token },
    );
    expect(unlocked.errors).toBeUndefined();
    expect(unlocked.data?.unlockUser).toEqual({ id: target.id, lockedUntil: null });
    const after = await login(target.email, PASSWORD);
    expect(after.data?.login.user.id).toBe(target.id);
  });

  it('counts consecutive failures only: a success resets the count', async () => {
    const target = await makeUser(server, world.admin);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX - 1; i++) await login(target.email, WRONG);
      const right = await login(target.email, PASSWORD);
      expect(right.errors, `round ${round}`).toBeUndefined();
    }
    const [row] = await server.testDatabase.database.db
      .select({ count: users.failedLoginCount, lockedUntil: users.lockedUntil })
      .from(users)
      .where(eq(users.id, target.id));
    expect(row).toEqual({ count: 0, lockedUntil: null });
  });
});

describe('100 parallel wrong-password sign-ins on two instances', () => {
  it(`record at most maxFailedLogins + 2 failures before the lock holds, and none succeeds`, async () => {
    // A second instance over the same database: the count must hold across processes, not
    // just within one.
    const second = await startTestServer({}, { database: server.testDatabase });
    try {
      const fresh = await makeWorld(server, system); // default settings: maxFailedLogins 5
      const target = await makeUser(server, fresh.admin);
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          attemptLogin(i % 2 === 0 ? server : second, fresh.slug, target.email, `${WRONG}${i}`),
        ),
      );
      expect(answers.map((a) => a.errors?.[0]?.extensions?.code)).toEqual(Array(100).fill('UNAUTHENTICATED'));
      expect(answers.filter((a) => a.data?.login)).toHaveLength(0);

      const [row] = await server.testDatabase.database.db
        .select({ count: users.failedLoginCount, lockedUntil: users.lockedUntil })
        .from(users)
        .where(eq(users.id, target.id));
      const reasons = await failureReasons(target.id);
      const evaluated = reasons.filter((r) => r === 'bad_password').length;
      console.info(
        `100 parallel wrong passwords (maxFailedLogins 5, two instances): failed_login_count ${row?.count}, ` +
          `${evaluated} evaluated (bad_password), ${reasons.length - evaluated} refused as locked`,
      );
      expect(row?.count).toBeGreaterThanOrEqual(5);
      expect(row?.count).toBeLessThanOrEqual(5 + 2);
      expect(row?.lockedUntil).not.toBeNull();
      expect(evaluated).toBeGreaterThanOrEqual(5);
      expect(evaluated).toBeLessThanOrEqual(5 + 2);
      expect(reasons).toHaveLength(100);
      expect(reasons.filter((r) => r === 'locked')).toHaveLength(100 - evaluated);
      expect(await lockouts(target.id)).toHaveLength(1);
      // The lock holds for the right password too.
      expect((await attemptLogin(second, fresh.slug, target.email, PASSWORD)).data ?? null).toBeNull();
    } finally {
      await second.close();
    }
  });
});
