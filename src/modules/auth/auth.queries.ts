import { and, eq, getTableColumns, getTableName, isNull, or, type SQL, sql, type Table } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Db, Executor } from '../../db/client.js';
import { fieldsOf, onPool, preparedPerDatabase } from '../../db/prepared.js';
import {
  type AuditEventRow,
  auditEvents,
  type SessionRow,
  sessions,
  tenants,
  type UserRow,
  users,
} from '../../db/schema.js';
import type { RequestOrigin } from '../../kernel/context.js';
import { auditOrigin } from '../audit/audit.service.js';
import { sessionOrigin } from '../sessions/sessions.queries.js';
import { emailUnique } from '../users/users.queries.js';

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

/**
 * Finds one user (`which`) and counts an attempt on them, unless they are locked, suspended or
 * `countAttempt` is false; one statement either way.
 */
function reserveAttempt(db: Db, which: SQL, name: string) {
  const target = db.$with('target').as(
    db
      .select()
      .from(users)
      .where(and(sql`${users.tenantId} = ${p('tenantId')}`, which))
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
    .prepare(name);
}

const reserveStatement = preparedPerDatabase((db: Db) =>
  // lower() on both sides: the unique index's own folding (JS toLowerCase differs, e.g. for "İ").
  reserveAttempt(db, sql`lower(${users.email}) = lower(${p('email')})`, 'reserveLoginAttempt'),
);

const reserveByIdStatement = preparedPerDatabase((db: Db) =>
  reserveAttempt(db, sql`${users.id} = ${p('userId')}::uuid`, 'reservePasswordCheck'),
);

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
  db: Executor,
  input: {
    tenantId: string;
    /** The account by its email (sign-in) or by its id (a signed-in user's current password). */
    email?: string;
    userId?: string;
    countAttempt: boolean;
    policy: { maxFailedLogins: number; lockoutMinutes: number };
    now: Date;
  },
): Promise<LoginAttempt | undefined> {
  const lockEnds = new Date(input.now.getTime() + input.policy.lockoutMinutes * 60_000);
  const values = {
    tenantId: input.tenantId,
    countAttempt: input.countAttempt,
    maxFailedLogins: input.policy.maxFailedLogins,
    lockEnds: lockEnds.toISOString(),
    now: input.now.toISOString(),
  };
  const [row] =
    input.userId !== undefined
      ? await reserveByIdStatement(onPool(db)).execute({ ...values, userId: input.userId })
      : await reserveStatement(onPool(db)).execute({ ...values, email: input.email ?? '' });
  if (!row) return undefined;
  const allowed = row.reservedId !== null;
  return { user: row.user as UserRow, allowed, locksNow: allowed && row.lockedUntil !== null };
}

const settleStatement = preparedPerDatabase((db: Db) =>
  db
    .update(users)
    .set({ failedLoginCount: 0, lockedUntil: null })
    .where(
      and(
        sql`${users.tenantId} = ${p('tenantId')}::uuid`,
        sql`${users.id} = ${p('userId')}::uuid`,
        sql`${users.passwordHash} = ${p('verifiedPasswordHash')}::text`,
        sql`${users.status} = 'ACTIVE'`,
      ),
    )
    .returning({ id: users.id })
    .prepare('settlePasswordCheck'),
);

/**
 * After a signed-in user's correct current password: undoes the attempt's count (and any lock),
 * as a sign-in does. False when the account no longer has the hash that was checked, or is no
 * longer ACTIVE: the check then does not count as passed.
 */
export async function settlePasswordCheck(
  db: Executor,
  input: { tenantId: string; userId: string; verifiedPasswordHash: string },
): Promise<boolean> {
  const rows = await settleStatement(onPool(db)).execute(input);
  return rows.length > 0;
}

/**
 * Every column of `table`, in the table's order, from `values`: what an `insert … select` needs
 * (Drizzle requires exactly the table's columns, in order). A column missing from `values` is a
 * programming error, reported as such rather than as a confusing SQL error.
 */
function everyColumn<T extends Table>(table: T, values: Record<string, SQL>): Record<string, SQL> {
  return Object.fromEntries(
    Object.keys(getTableColumns(table)).map((key) => {
      const value = values[key];
      if (value === undefined)
        throw new Error(`no value for ${key} in an insert into ${getTableName(table)}`);
      return [key, value];
    }),
  );
}

const signInStatement = preparedPerDatabase((db: Db) => {
  // Only while the account is exactly as the password check saw it: the same hash (no password
  // change, no other upgrade in between), still ACTIVE, its tenant still ACTIVE. Otherwise nothing
  // at all is written: no session, no audit event, no count reset, and no hash of a password that
  // is no longer the account's.
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
      .where(
        and(
          sql`${users.tenantId} = ${p('tenantId')}::uuid`,
          sql`${users.id} = ${p('userId')}::uuid`,
          sql`${users.passwordHash} = ${p('verifiedPasswordHash')}::text`,
          sql`${users.status} = 'ACTIVE'`,
          sql`exists (select 1 from ${tenants} where ${tenants.id} = ${p('tenantId')}::uuid and ${tenants.status} = 'ACTIVE')`,
        ),
      )
      .returning(),
  );
  const session = db.$with('session').as(
    db
      .insert(sessions)
      .select(
        db
          .select(
            everyColumn(sessions, {
              id: sql`${p('sessionId')}::uuid`,
              tenantId: sql`${p('tenantId')}::uuid`,
              userId: sql`${signedIn.id}`,
              refreshTokenHash: sql`${p('refreshTokenHash')}::bytea`,
              legacyRefreshToken: sql`false`,
              rotationCounter: sql`0`,
              ipAddress: sql`${p('sessionIp')}::text`,
              userAgent: sql`${p('sessionUserAgent')}::text`,
              createdAt: sql`${p('now')}::timestamptz`,
              lastUsedAt: sql`${p('now')}::timestamptz`,
              expiresAt: sql`${p('expiresAt')}::timestamptz`,
              endedAt: sql`null`,
              endReason: sql`null`,
              amr: sql`${p('amr')}::text[]`,
            }),
          )
          .from(signedIn) as never,
      )
      .returning(),
  );
  const audit = db.$with('audit').as(
    db
      .insert(auditEvents)
      .select(
        db
          .select(
            everyColumn(auditEvents, {
              id: sql`${p('auditId')}::uuid`,
              tenantId: sql`${p('tenantId')}::uuid`,
              actorId: sql`${signedIn.id}`,
              action: sql`'auth.login.succeeded'`,
              targetType: sql`'session'`,
              targetId: sql`${p('sessionId')}::uuid`,
              ipAddress: sql`${p('auditIp')}::text`,
              userAgent: sql`${p('auditUserAgent')}::text`,
              metadata: sql`${p('auditMetadata')}::jsonb`,
              createdAt: sql`${p('now')}::timestamptz`,
            }),
          )
          .from(signedIn) as never,
      )
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
 * an upgraded hash), opens the session and writes `auth.login.succeeded`, all in one statement,
 * and only if the account still has the hash the password was checked against and it and its
 * tenant are still ACTIVE. Undefined otherwise (nothing was written): the password was changed,
 * the account suspended or deleted, or another sign-in upgraded the hash, while this one checked.
 */
export async function completeSignIn(
  db: Executor,
  input: {
    user: Pick<UserRow, 'id' | 'tenantId' | 'passwordHash'>;
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
  const [row] = await signInStatement(onPool(db)).execute({
    userId: input.user.id,
    tenantId: input.user.tenantId,
    verifiedPasswordHash: input.user.passwordHash,
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

/**
 * The caller's own display name and email. With `verifiedPasswordHash` (an email change asked for
 * the current password) only while the account still has that hash. A new address is unverified.
 * An email taken in the tenant is CONFLICT (see emailUnique). Undefined when no row matched.
 */
export async function updateOwnProfile(
  db: Executor,
  input: {
    tenantId: string;
    userId: string;
    changes: Partial<Pick<UserRow, 'displayName' | 'email'>>;
    emailUnverified: boolean;
    verifiedPasswordHash: string | null;
    now: Date;
  },
): Promise<UserRow | undefined> {
  const [row] = await emailUnique(
    db
      .update(users)
      .set({
        ...input.changes,
        ...(input.emailUnverified ? { emailVerifiedAt: null } : {}),
        updatedAt: input.now,
      })
      .where(
        and(
          eq(users.tenantId, input.tenantId),
          eq(users.id, input.userId),
          input.verifiedPasswordHash === null
            ? undefined
            : eq(users.passwordHash, input.verifiedPasswordHash),
        ),
      )
      .returning(),
  );
  return row;
}

/**
 * Sets a new password hash (clearing the failed count and any lock), only over `expectedHash`: of
 * two changes racing, the second finds the first's hash and changes nothing. Whether it changed.
 */
export async function replacePasswordHash(
  db: Executor,
  input: { tenantId: string; userId: string; expectedHash: string; passwordHash: string; now: Date },
): Promise<boolean> {
  const changed = await db
    .update(users)
    .set({ passwordHash: input.passwordHash, updatedAt: input.now, failedLoginCount: 0, lockedUntil: null })
    .where(
      and(
        eq(users.tenantId, input.tenantId),
        eq(users.id, input.userId),
        eq(users.passwordHash, input.expectedHash),
      ),
    )
    .returning({ id: users.id });
  return changed.length > 0;
}
