import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { users } from '../../db/schema.js';

export type AttemptReservation =
  | { allowed: true; locksNow: boolean }
  | { allowed: false; lockedUntil: Date | null };

/**
 * Counts a sign-in attempt *before* the password is checked, in one atomic UPDATE. Parallel
 * guesses therefore cannot all slip in while the count is still low: at most `maxFailedLogins`
 * attempts are let through before the lock holds, however many arrive at once. The attempt that
 * reaches the limit sets `locked_until` itself, so no crash can leave an account half-locked.
 * A success undoes the count with `clearFailedLogins`.
 */
export async function reserveLoginAttempt(
  db: Executor,
  userId: string,
  policy: { maxFailedLogins: number; lockoutMinutes: number },
  now: Date,
): Promise<AttemptReservation> {
  const lockEnds = new Date(now.getTime() + policy.lockoutMinutes * 60_000);
  // An expired lock starts a fresh count.
  const previous = sql`case when ${users.lockedUntil} is not null then 0 else ${users.failedLoginCount} end`;
  const [row] = await db
    .update(users)
    .set({
      failedLoginCount: sql`${previous} + 1`,
      lockedUntil: sql`case when ${previous} + 1 >= ${policy.maxFailedLogins} then ${lockEnds.toISOString()}::timestamptz else null end`,
    })
    .where(and(eq(users.id, userId), or(isNull(users.lockedUntil), lte(users.lockedUntil, now))))
    .returning({ failedLoginCount: users.failedLoginCount, lockedUntil: users.lockedUntil });
  if (row) return { allowed: true, locksNow: row.lockedUntil !== null };
  const [locked] = await db
    .select({ lockedUntil: users.lockedUntil })
    .from(users)
    .where(eq(users.id, userId));
  return { allowed: false, lockedUntil: locked?.lockedUntil ?? null };
}

/** After a correct password: the reserved attempt did not fail, and nothing is locked. */
export async function clearFailedLogins(db: Executor, userId: string): Promise<void> {
  await db.update(users).set({ failedLoginCount: 0, lockedUntil: null }).where(eq(users.id, userId));
}
