import { and, asc, count, eq, gt, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import {
  type MfaLoginChallengeRow,
  type MfaTotpRow,
  mfaLoginChallenges,
  mfaRecoveryCodes,
  mfaTotp,
  type PasskeyRow,
  passkeys,
  type UserRow,
  users,
} from '../../db/schema.js';

/**
 * Every statement of the second factors. Each takes the tenant id and filters by it (the tables'
 * primary keys start with it), and an executor: the pool, or the transaction of the change.
 */

/** At most this many passkeys per user: a bounded list, and a bounded allowCredentials. */
export const MAX_PASSKEYS_PER_USER = 20;

// ---------------------------------------------------------------- TOTP

export async function findTotp(
  db: Executor,
  tenantId: string,
  userId: string,
): Promise<MfaTotpRow | undefined> {
  const [row] = await db
    .select()
    .from(mfaTotp)
    .where(and(eq(mfaTotp.tenantId, tenantId), eq(mfaTotp.userId, userId)))
    .limit(1);
  return row;
}

/**
 * Stores a new, unconfirmed secret, replacing an earlier unconfirmed one. Undefined when TOTP
 * is already on (a confirmed secret is never replaced this way).
 */
export async function storePendingTotp(
  db: Executor,
  input: { tenantId: string; userId: string; sealedSecret: string; now: Date },
): Promise<MfaTotpRow | undefined> {
  const [row] = await db
    .insert(mfaTotp)
    .values({
      tenantId: input.tenantId,
      userId: input.userId,
      secret: input.sealedSecret,
      createdAt: input.now,
    })
    .onConflictDoUpdate({
      target: [mfaTotp.tenantId, mfaTotp.userId],
      set: { secret: input.sealedSecret, createdAt: input.now, lastUsedStep: null },
      setWhere: isNull(mfaTotp.confirmedAt),
    })
    .returning();
  return row;
}

/**
 * Accepts a code's time step, once: only a step later than the last accepted one matches (a
 * compare-and-set, so two requests with the same code cannot both pass). `confirm` also turns a
 * pending secret on; otherwise only a confirmed one matches.
 */
export async function acceptTotpStep(
  db: Executor,
  input: { tenantId: string; userId: string; step: number; confirmAt?: Date },
): Promise<boolean> {
  const rows = await db
    .update(mfaTotp)
    .set({
      lastUsedStep: input.step,
      ...(input.confirmAt ? { confirmedAt: input.confirmAt } : {}),
    })
    .where(
      and(
        eq(mfaTotp.tenantId, input.tenantId),
        eq(mfaTotp.userId, input.userId),
        input.confirmAt ? isNull(mfaTotp.confirmedAt) : isNotNull(mfaTotp.confirmedAt),
        or(isNull(mfaTotp.lastUsedStep), lt(mfaTotp.lastUsedStep, input.step)),
      ),
    )
    .returning({ userId: mfaTotp.userId });
  return rows.length > 0;
}

export async function deleteTotp(db: Executor, tenantId: string, userId: string): Promise<boolean> {
  const rows = await db
    .delete(mfaTotp)
    .where(and(eq(mfaTotp.tenantId, tenantId), eq(mfaTotp.userId, userId)))
    .returning({ userId: mfaTotp.userId });
  return rows.length > 0;
}

// ---------------------------------------------------------------- recovery codes

export async function replaceRecoveryCodes(
  db: Executor,
  input: { tenantId: string; userId: string; hashes: Buffer[]; now: Date },
): Promise<void> {
  await deleteRecoveryCodes(db, input.tenantId, input.userId);
  await db.insert(mfaRecoveryCodes).values(
    input.hashes.map((codeHash) => ({
      tenantId: input.tenantId,
      userId: input.userId,
      codeHash,
      createdAt: input.now,
    })),
  );
}

export async function deleteRecoveryCodes(db: Executor, tenantId: string, userId: string): Promise<number> {
  const rows = await db
    .delete(mfaRecoveryCodes)
    .where(and(eq(mfaRecoveryCodes.tenantId, tenantId), eq(mfaRecoveryCodes.userId, userId)))
    .returning({ userId: mfaRecoveryCodes.userId });
  return rows.length;
}

/** Spends one unused code; false when it is unknown or already used (one request wins a race). */
export async function spendRecoveryCode(
  db: Executor,
  input: { tenantId: string; userId: string; codeHash: Buffer; now: Date },
): Promise<boolean> {
  const rows = await db
    .update(mfaRecoveryCodes)
    .set({ usedAt: input.now })
    .where(
      and(
        eq(mfaRecoveryCodes.tenantId, input.tenantId),
        eq(mfaRecoveryCodes.userId, input.userId),
        eq(mfaRecoveryCodes.codeHash, input.codeHash),
        isNull(mfaRecoveryCodes.usedAt),
      ),
    )
    .returning({ userId: mfaRecoveryCodes.userId });
  return rows.length > 0;
}

// ---------------------------------------------------------------- what a user has

export interface MfaFactors {
  totpEnabled: boolean;
  recoveryCodesRemaining: number;
  passkeyCount: number;
}

/** One round trip: whether TOTP is on, unused recovery codes, passkeys. */
export async function findMfaFactors(db: Executor, tenantId: string, userId: string): Promise<MfaFactors> {
  const [row] = await db
    .select({
      totpEnabled: sql<boolean>`exists (select 1 from ${mfaTotp} where ${mfaTotp.tenantId} = ${tenantId}
        and ${mfaTotp.userId} = ${userId} and ${mfaTotp.confirmedAt} is not null)`,
      recoveryCodesRemaining: sql<number>`(select count(*)::int from ${mfaRecoveryCodes}
        where ${mfaRecoveryCodes.tenantId} = ${tenantId} and ${mfaRecoveryCodes.userId} = ${userId}
        and ${mfaRecoveryCodes.usedAt} is null)`,
      passkeyCount: sql<number>`(select count(*)::int from ${passkeys}
        where ${passkeys.tenantId} = ${tenantId} and ${passkeys.userId} = ${userId})`,
    })
    .from(sql`(select 1) as one`);
  return {
    totpEnabled: row?.totpEnabled === true,
    recoveryCodesRemaining: Number(row?.recoveryCodesRemaining ?? 0),
    passkeyCount: Number(row?.passkeyCount ?? 0),
  };
}

/**
 * Sets users.mfa_enabled from the factors the user now has (in the transaction that changed
 * them); returns the updated row, or undefined when the user is gone.
 */
export async function syncMfaEnabled(
  db: Executor,
  tenantId: string,
  userId: string,
  now: Date,
): Promise<UserRow | undefined> {
  const [row] = await db
    .update(users)
    .set({
      mfaEnabled: sql`exists (select 1 from ${mfaTotp} where ${mfaTotp.tenantId} = ${tenantId}
          and ${mfaTotp.userId} = ${userId} and ${mfaTotp.confirmedAt} is not null)
        or exists (select 1 from ${passkeys} where ${passkeys.tenantId} = ${tenantId}
          and ${passkeys.userId} = ${userId})`,
      updatedAt: now,
    })
    .where(and(eq(users.tenantId, tenantId), eq(users.id, userId)))
    .returning();
  return row;
}

// ---------------------------------------------------------------- passkeys

export async function listPasskeys(db: Executor, tenantId: string, userId: string): Promise<PasskeyRow[]> {
  return db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, tenantId), eq(passkeys.userId, userId)))
    .orderBy(asc(passkeys.createdAt), asc(passkeys.id))
    .limit(MAX_PASSKEYS_PER_USER);
}

export async function countPasskeys(db: Executor, tenantId: string, userId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, tenantId), eq(passkeys.userId, userId)));
  return Number(row?.n ?? 0);
}

export async function findPasskeyByCredentialId(
  db: Executor,
  tenantId: string,
  credentialId: string,
): Promise<PasskeyRow | undefined> {
  const [row] = await db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, tenantId), eq(passkeys.credentialId, credentialId)))
    .limit(1);
  return row;
}

export async function insertPasskey(
  db: Executor,
  values: Omit<PasskeyRow, 'id' | 'lastUsedAt'>,
): Promise<PasskeyRow | undefined> {
  const [row] = await db.insert(passkeys).values(values).onConflictDoNothing().returning();
  return row;
}

/**
 * Records a use: the new signature counter, only if the stored one is still the one that was
 * checked (compare-and-set), so two concurrent uses of one assertion cannot both pass.
 */
export async function recordPasskeyUse(
  db: Executor,
  input: { tenantId: string; id: string; previousCount: number; newCount: number; now: Date },
): Promise<boolean> {
  const rows = await db
    .update(passkeys)
    .set({ signCount: input.newCount, lastUsedAt: input.now })
    .where(
      and(
        eq(passkeys.tenantId, input.tenantId),
        eq(passkeys.id, input.id),
        eq(passkeys.signCount, input.previousCount),
      ),
    )
    .returning({ id: passkeys.id });
  return rows.length > 0;
}

export async function deletePasskey(
  db: Executor,
  tenantId: string,
  userId: string,
  id: string,
): Promise<PasskeyRow | undefined> {
  const [row] = await db
    .delete(passkeys)
    .where(and(eq(passkeys.tenantId, tenantId), eq(passkeys.userId, userId), eq(passkeys.id, id)))
    .returning();
  return row;
}

export async function deleteAllPasskeys(db: Executor, tenantId: string, userId: string): Promise<number> {
  const rows = await db
    .delete(passkeys)
    .where(and(eq(passkeys.tenantId, tenantId), eq(passkeys.userId, userId)))
    .returning({ id: passkeys.id });
  return rows.length;
}

// ---------------------------------------------------------------- the second step of a sign-in

export async function insertLoginChallenge(
  db: Executor,
  input: {
    tenantId: string;
    userId: string;
    tokenHash: Buffer;
    verifiedState: Buffer;
    now: Date;
    expiresAt: Date;
  },
): Promise<MfaLoginChallengeRow> {
  const [row] = await db
    .insert(mfaLoginChallenges)
    .values({
      tenantId: input.tenantId,
      userId: input.userId,
      tokenHash: input.tokenHash,
      verifiedState: input.verifiedState,
      createdAt: input.now,
      expiresAt: input.expiresAt,
    })
    .returning();
  if (!row) throw new Error('challenge insert returned no row');
  return row;
}

/** A challenge that is still open: not used up and not expired. */
export async function findOpenLoginChallenge(
  db: Executor,
  tenantId: string,
  tokenHash: Buffer,
  now: Date,
): Promise<MfaLoginChallengeRow | undefined> {
  const [row] = await db
    .select()
    .from(mfaLoginChallenges)
    .where(
      and(
        eq(mfaLoginChallenges.tenantId, tenantId),
        eq(mfaLoginChallenges.tokenHash, tokenHash),
        isNull(mfaLoginChallenges.endedAt),
        gt(mfaLoginChallenges.expiresAt, now),
      ),
    )
    .limit(1);
  return row;
}

/** Ends an open challenge; false when another request ended it first (it is single use). */
export async function endLoginChallenge(
  db: Executor,
  tenantId: string,
  id: string,
  now: Date,
): Promise<boolean> {
  const rows = await db
    .update(mfaLoginChallenges)
    .set({ endedAt: now })
    .where(
      and(
        eq(mfaLoginChallenges.tenantId, tenantId),
        eq(mfaLoginChallenges.id, id),
        isNull(mfaLoginChallenges.endedAt),
        gt(mfaLoginChallenges.expiresAt, now),
      ),
    )
    .returning({ id: mfaLoginChallenges.id });
  return rows.length > 0;
}

/** Counts a wrong second factor on the challenge, ending it at `maxAttempts`. */
export async function recordLoginChallengeFailure(
  db: Executor,
  input: { tenantId: string; id: string; maxAttempts: number; now: Date },
): Promise<{ failedAttempts: number; ended: boolean } | undefined> {
  const [row] = await db
    .update(mfaLoginChallenges)
    .set({
      failedAttempts: sql`${mfaLoginChallenges.failedAttempts} + 1`,
      endedAt: sql`case when ${mfaLoginChallenges.failedAttempts} + 1 >= ${input.maxAttempts}
        then ${input.now.toISOString()}::timestamptz else null end`,
    })
    .where(
      and(
        eq(mfaLoginChallenges.tenantId, input.tenantId),
        eq(mfaLoginChallenges.id, input.id),
        isNull(mfaLoginChallenges.endedAt),
      ),
    )
    .returning({ failedAttempts: mfaLoginChallenges.failedAttempts, endedAt: mfaLoginChallenges.endedAt });
  return row && { failedAttempts: row.failedAttempts, ended: row.endedAt !== null };
}

/** Ended and expired challenges older than `before` go (with the session cleanup). */
export async function purgeLoginChallenges(db: Executor, before: Date): Promise<number> {
  const rows = await db
    .delete(mfaLoginChallenges)
    .where(lt(mfaLoginChallenges.expiresAt, before))
    .returning({ id: mfaLoginChallenges.id });
  return rows.length;
}

/**
 * A wrong second factor counts like a wrong password: one more failed sign-in, and the lock
 * when it reaches the tenant's limit. Returns whether this failure locked the account.
 */
export async function countFailedSecondFactor(
  db: Executor,
  input: {
    tenantId: string;
    userId: string;
    maxFailedLogins: number;
    lockoutMinutes: number;
    now: Date;
  },
): Promise<boolean> {
  const lockEnds = new Date(input.now.getTime() + input.lockoutMinutes * 60_000).toISOString();
  const now = input.now.toISOString();
  // An expired lock starts a fresh count.
  const previous = sql`case when ${users.lockedUntil} is not null and ${users.lockedUntil} <= ${now}::timestamptz
    then 0 else ${users.failedLoginCount} end`;
  const [row] = await db
    .update(users)
    .set({
      failedLoginCount: sql`${previous} + 1`,
      lockedUntil: sql`case when ${previous} + 1 >= ${input.maxFailedLogins}::int
        then ${lockEnds}::timestamptz else ${users.lockedUntil} end`,
    })
    .where(and(eq(users.tenantId, input.tenantId), eq(users.id, input.userId)))
    .returning({ failedLoginCount: users.failedLoginCount, lockedUntil: users.lockedUntil });
  return row !== undefined && row.failedLoginCount === input.maxFailedLogins && row.lockedUntil !== null;
}

/**
 * A right password for an account with a second factor is not yet a sign-in: the attempt the
 * password check reserved is given back (and the lock it would have set, if it set one), but the
 * count is not cleared. Wrong second factors on later challenges therefore keep adding up to the
 * lockout; only a completed sign-in clears it. An upgraded password hash is stored here, while
 * the password is at hand.
 */
export async function releaseLoginAttempt(
  db: Executor,
  input: {
    tenantId: string;
    userId: string;
    unlock: boolean;
    newPasswordHash: string | undefined;
    /** The hash the password was verified against: the upgrade replaces only that one. */
    verifiedPasswordHash: string;
  },
): Promise<{ passwordHash: string } | undefined> {
  const [row] = await db
    .update(users)
    .set({
      failedLoginCount: sql`greatest(${users.failedLoginCount} - 1, 0)`,
      ...(input.unlock ? { lockedUntil: null } : {}),
      // A password changed meanwhile is kept: the old password is never written back.
      ...(input.newPasswordHash
        ? {
            passwordHash: sql`case when ${users.passwordHash} = ${input.verifiedPasswordHash} then ${input.newPasswordHash} else ${users.passwordHash} end`,
          }
        : {}),
    })
    .where(and(eq(users.tenantId, input.tenantId), eq(users.id, input.userId)))
    .returning({ passwordHash: users.passwordHash });
  return row;
}
