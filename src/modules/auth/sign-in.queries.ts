import { and, isNull, or, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Db } from '../../db/client.js';
import { fieldsOf, preparedPerDatabase } from '../../db/prepared.js';
import {
  type AuditEventRow,
  auditEvents,
  type SessionRow,
  sessions,
  type UserRow,
  users,
} from '../../db/schema.js';
import type { RequestOrigin } from '../../graphql/context.js';
import { auditOrigin } from '../audit/audit.service.js';
import { sessionOrigin } from '../sessions/sessions.service.js';

/**
 * A sign-in's two writes, each one statement (one round trip, atomic without a transaction): a
 * sign-in used to take nine round trips to PostgreSQL, and on a machine busy with bcrypt each one
 * cost the event loop as much as the rest of the request together.
 *
 * Placeholders inside `sql` skip Drizzle's value mapping, so times go in as ISO text and ids as
 * strings, exactly as the columns' own mapping would send them.
 */

const p = (name: string) => sql.placeholder(name);

/** Authentication method references (RFC 8176) a session can record. */
export type AmrValue = 'pwd' | 'otp' | 'hwk' | 'swk' | 'mfa';

const reserveStatement = preparedPerDatabase((db: Db) => {
  const target = db.$with('target').as(
    db
      .select()
      .from(users)
      // lower() on both sides: the unique index's own folding (JS toLowerCase differs, e.g. for "İ").
      .where(
        and(sql`${users.tenantId} = ${p('tenantId')}`, sql`lower(${users.email}) = lower(${p('email')})`),
      )
      .limit(1),
  );
  // An expired lock starts a fresh count.
  const previous = sql`case when ${users.lockedUntil} is not null then 0 else ${users.failedLoginCount} end`;
  const reserved = db.$with('reserved').as(
    db
      .update(users)
      .set({
        failedLoginCount: sql`${previous} + 1`,
        lockedUntil: sql`case when ${previous} + 1 >= ${p('maxFailedLogins')}::int then ${p('lockEnds')}::timestamptz else null end`,
      })
      .from(target)
      .where(
        and(
          // The tenant as a value, not only through the join: the statement then reaches one
          // partition (or shard) when planned, rather than every one.
          sql`${users.tenantId} = ${p('tenantId')} and ${users.id} = ${target.id}`,
          sql`${target.status} = 'ACTIVE' and ${p('countAttempt')}::boolean`,
          or(isNull(users.lockedUntil), sql`${users.lockedUntil} <= ${p('now')}::timestamptz`),
        ),
      )
      .returning({ id: users.id, lockedUntil: users.lockedUntil }),
  );
  return db
    .with(target, reserved)
    .select({ user: fieldsOf(users, target), reservedId: reserved.id, lockedUntil: reserved.lockedUntil })
    .from(target)
    .leftJoin(reserved, sql`true`)
    .prepare('reserveLoginAttempt');
});

export interface LoginAttempt {
  user: UserRow;
  /** The attempt was counted: the password may be checked. */
  allowed: boolean;
  /** This attempt reached the limit and locked the account (should the password be wrong). */
  locksNow: boolean;
}

/**
 * Finds the user and counts a sign-in attempt *before* the password is checked, in one atomic
 * statement. Parallel guesses therefore cannot all slip in while the count is still low: at most
 * `maxFailedLogins` attempts are let through before the lock holds, however many arrive at once.
 * The attempt that reaches the limit sets `locked_until` itself, so no crash can leave an account
 * half-locked. Nothing is counted for a suspended user, or when `countAttempt` is false (the
 * tenant is suspended). A success undoes the count (`completeSignIn`).
 */
export async function reserveLoginAttempt(
  db: Db,
  input: {
    tenantId: string;
    email: string;
    countAttempt: boolean;
    policy: { maxFailedLogins: number; lockoutMinutes: number };
    now: Date;
  },
): Promise<LoginAttempt | undefined> {
  const lockEnds = new Date(input.now.getTime() + input.policy.lockoutMinutes * 60_000);
  const [row] = await reserveStatement(db).execute({
    tenantId: input.tenantId,
    email: input.email,
    countAttempt: input.countAttempt,
    maxFailedLogins: input.policy.maxFailedLogins,
    lockEnds: lockEnds.toISOString(),
    now: input.now.toISOString(),
  });
  if (!row) return undefined;
  const allowed = row.reservedId !== null;
  return { user: row.user as UserRow, allowed, locksNow: allowed && row.lockedUntil !== null };
}

const signInStatement = preparedPerDatabase((db: Db) => {
  const signedIn = db.$with('signed_in').as(
    db
      .update(users)
      .set({
        failedLoginCount: 0,
        lockedUntil: null,
        lastLoginAt: sql`${p('now')}::timestamptz`,
        // A hash of another cost or scheme is replaced while the plain password is at hand.
        passwordHash: sql`coalesce(${p('newPasswordHash')}::text, ${users.passwordHash})`,
      })
      .where(sql`${users.tenantId} = ${p('tenantId')} and ${users.id} = ${p('userId')}`)
      .returning(),
  );
  const session = db.$with('session').as(
    db
      .insert(sessions)
      .values({
        id: sql`${p('sessionId')}::uuid`,
        tenantId: sql`${p('tenantId')}::uuid`,
        userId: sql`${p('userId')}::uuid`,
        refreshTokenHash: sql`${p('refreshTokenHash')}::bytea`,
        ipAddress: sql`${p('sessionIp')}::text`,
        userAgent: sql`${p('sessionUserAgent')}::text`,
        createdAt: sql`${p('now')}::timestamptz`,
        lastUsedAt: sql`${p('now')}::timestamptz`,
        expiresAt: sql`${p('expiresAt')}::timestamptz`,
        amr: sql`${p('amr')}::text[]`,
      })
      .returning(),
  );
  const audit = db.$with('audit').as(
    db
      .insert(auditEvents)
      .values({
        id: sql`${p('auditId')}::uuid`,
        tenantId: sql`${p('tenantId')}::uuid`,
        actorId: sql`${p('userId')}::uuid`,
        action: 'auth.login.succeeded',
        targetType: 'session',
        targetId: sql`${p('sessionId')}::uuid`,
        ipAddress: sql`${p('auditIp')}::text`,
        userAgent: sql`${p('auditUserAgent')}::text`,
        metadata: sql`${p('auditMetadata')}::jsonb`,
        createdAt: sql`${p('now')}::timestamptz`,
      })
      .returning(),
  );
  return db
    .with(signedIn, session, audit)
    .select({
      user: fieldsOf(users, signedIn),
      session: fieldsOf(sessions, session),
      audit: fieldsOf(auditEvents, audit),
    })
    .from(signedIn)
    .innerJoin(session, sql`true`)
    .innerJoin(audit, sql`true`)
    .prepare('completeSignIn');
});

/**
 * After a correct password: clears the attempt count and any lock, records the sign-in time (and
 * an upgraded hash), opens the session and writes `auth.login.succeeded`, all in one statement.
 * Undefined when the user no longer exists.
 */
export async function completeSignIn(
  db: Db,
  input: {
    user: Pick<UserRow, 'id' | 'tenantId'>;
    refreshTokenHash: Buffer;
    newPasswordHash: string | undefined;
    origin: RequestOrigin;
    now: Date;
    expiresAt: Date;
    /** How the user proved who they are (RFC 8176); a password alone when omitted. */
    amr?: readonly AmrValue[];
  },
): Promise<{ user: UserRow; session: SessionRow; audit: AuditEventRow } | undefined> {
  const amr = input.amr ?? ['pwd'];
  const session = sessionOrigin(input.origin);
  const audit = auditOrigin(input.origin);
  const [row] = await signInStatement(db).execute({
    userId: input.user.id,
    tenantId: input.user.tenantId,
    sessionId: uuidv7(),
    auditId: uuidv7(),
    refreshTokenHash: input.refreshTokenHash,
    newPasswordHash: input.newPasswordHash ?? null,
    sessionIp: session.ip,
    sessionUserAgent: session.userAgent,
    auditIp: audit.ip,
    auditUserAgent: audit.userAgent,
    now: input.now.toISOString(),
    expiresAt: input.expiresAt.toISOString(),
    // A Postgres array literal: the values are fixed words, never input.
    amr: `{${amr.join(',')}}`,
    auditMetadata: input.amr ? JSON.stringify({ amr }) : null,
  });
  return row as { user: UserRow; session: SessionRow; audit: AuditEventRow } | undefined;
}
