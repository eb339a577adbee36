import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import {
  type EmailTokenPurpose,
  type EmailTokenRow,
  emailTokens,
  type UserRow,
  users,
} from '../../db/schema.js';

/** The SQL of password resets and email verification. Every statement names its tenant. */

export async function findUserByEmail(
  db: Executor,
  tenantId: string,
  email: string,
): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    // lower() on both sides: the unique index's own folding.
    .where(and(eq(users.tenantId, tenantId), sql`lower(${users.email}) = lower(${email})`))
    .limit(1);
  return row;
}

export async function insertEmailToken(
  db: Executor,
  token: Pick<
    EmailTokenRow,
    'tenantId' | 'userId' | 'purpose' | 'email' | 'tokenHash' | 'createdAt' | 'expiresAt'
  >,
): Promise<void> {
  await db.insert(emailTokens).values(token);
}

/** An unused, unexpired token of this purpose, by the hash of its secret. */
export async function findUsableToken(
  db: Executor,
  input: { tenantId: string; hash: Buffer; purpose: EmailTokenPurpose; now: Date },
): Promise<EmailTokenRow | undefined> {
  const [row] = await db
    .select()
    .from(emailTokens)
    .where(
      and(
        eq(emailTokens.tenantId, input.tenantId),
        eq(emailTokens.tokenHash, input.hash),
        eq(emailTokens.purpose, input.purpose),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, input.now),
      ),
    )
    .limit(1);
  return row;
}

/**
 * Spends a token: true for the one caller that spent it. Two requests racing with one link
 * cannot both get true.
 */
export async function spendToken(
  db: Executor,
  token: Pick<EmailTokenRow, 'tenantId' | 'id'>,
  now: Date,
): Promise<boolean> {
  const rows = await db
    .update(emailTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(emailTokens.tenantId, token.tenantId),
        eq(emailTokens.id, token.id),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, now),
      ),
    )
    .returning({ id: emailTokens.id });
  return rows.length > 0;
}

/** Every still-unused token of this purpose of one user stops working. */
export async function voidUserTokens(
  db: Executor,
  input: { tenantId: string; userId: string; purpose: EmailTokenPurpose; now: Date },
): Promise<void> {
  await db
    .update(emailTokens)
    .set({ usedAt: input.now })
    .where(
      and(
        eq(emailTokens.tenantId, input.tenantId),
        eq(emailTokens.userId, input.userId),
        eq(emailTokens.purpose, input.purpose),
        isNull(emailTokens.usedAt),
      ),
    );
}

/**
 * Sets a password and clears a lockout. With `verifiedEmail`, the email is also marked verified
 * if it is still that address (the reset link reached it).
 */
export async function setPassword(
  db: Executor,
  input: { tenantId: string; userId: string; passwordHash: string; now: Date; verifiedEmail?: string },
): Promise<UserRow | undefined> {
  const verified = input.verifiedEmail
    ? sql`case when lower(${users.email}) = lower(${input.verifiedEmail}) then coalesce(${users.emailVerifiedAt}, ${input.now.toISOString()}::timestamptz) else ${users.emailVerifiedAt} end`
    : sql`${users.emailVerifiedAt}`;
  const [row] = await db
    .update(users)
    .set({
      passwordHash: input.passwordHash,
      failedLoginCount: 0,
      lockedUntil: null,
      emailVerifiedAt: verified,
      updatedAt: input.now,
    })
    .where(and(eq(users.tenantId, input.tenantId), eq(users.id, input.userId)))
    .returning();
  return row;
}

/** Marks the email verified if the user's email is still `email`; undefined otherwise. */
export async function markEmailVerified(
  db: Executor,
  input: { tenantId: string; userId: string; email: string; now: Date },
): Promise<UserRow | undefined> {
  const [row] = await db
    .update(users)
    .set({
      emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${input.now.toISOString()}::timestamptz)`,
      updatedAt: input.now,
    })
    .where(
      and(
        eq(users.tenantId, input.tenantId),
        eq(users.id, input.userId),
        sql`lower(${users.email}) = lower(${input.email})`,
      ),
    )
    .returning();
  return row;
}

/** A correct password was given: the attempt reserved before checking it is not a failure. */
export async function clearLoginAttempts(
  db: Executor,
  user: Pick<UserRow, 'tenantId' | 'id'>,
): Promise<void> {
  await db
    .update(users)
    .set({ failedLoginCount: 0, lockedUntil: null })
    .where(and(eq(users.tenantId, user.tenantId), eq(users.id, user.id)));
}
