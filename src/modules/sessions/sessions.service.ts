import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import {
  type SessionEndReason,
  type SessionRow,
  sessions,
  spentRefreshTokens,
  tenants,
  users,
} from '../../db/schema.js';
import type { RequestOrigin } from '../../graphql/context.js';

/** Refresh tokens are 256 random bits; only their SHA-256 is stored. */
export function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export interface NewSession {
  tenantId: string;
  userId: string;
  origin: RequestOrigin;
  now: Date;
  lifetimeSeconds: number;
}

export async function createSession(
  db: Executor,
  input: NewSession,
): Promise<{ session: SessionRow; refreshToken: string }> {
  const { token, hash } = newRefreshToken();
  const [session] = await db
    .insert(sessions)
    .values({
      tenantId: input.tenantId,
      userId: input.userId,
      refreshTokenHash: hash,
      ipAddress: input.origin.ip?.slice(0, 64) ?? null,
      userAgent: input.origin.userAgent?.slice(0, 512) ?? null,
      createdAt: input.now,
      lastUsedAt: input.now,
      expiresAt: new Date(input.now.getTime() + input.lifetimeSeconds * 1000),
    })
    .returning();
  if (!session) throw new Error('session insert returned no row');
  return { session, refreshToken: token };
}

export type RotationResult =
  | { outcome: 'rotated'; session: SessionRow; refreshToken: string }
  | { outcome: 'reused'; sessionId: string; tenantId: string; userId: string; endedNow: boolean }
  | { outcome: 'invalid' };

/**
 * Exchanges a refresh token for a new one. The compare-and-swap on the stored hash runs as one
 * UPDATE, so of two concurrent refreshes with the same token only one can succeed; a token that
 * was already exchanged is reuse, and ends the whole session.
 */
export async function rotateRefreshToken(
  tx: Executor,
  presented: string,
  now: Date,
  origin: RequestOrigin,
): Promise<RotationResult> {
  const oldHash = hashRefreshToken(presented);
  const next = newRefreshToken();
  const [rotated] = await tx
    .update(sessions)
    .set({
      refreshTokenHash: next.hash,
      rotationCounter: sql`${sessions.rotationCounter} + 1`,
      lastUsedAt: now,
      ipAddress: origin.ip?.slice(0, 64) ?? sql`${sessions.ipAddress}`,
      userAgent: origin.userAgent?.slice(0, 512) ?? sql`${sessions.userAgent}`,
    })
    .where(and(eq(sessions.refreshTokenHash, oldHash), isNull(sessions.endedAt), gt(sessions.expiresAt, now)))
    .returning();
  if (rotated) {
    await tx.insert(spentRefreshTokens).values({
      tokenHash: oldHash,
      tenantId: rotated.tenantId,
      sessionId: rotated.id,
      spentAt: now,
    });
    return { outcome: 'rotated', session: rotated, refreshToken: next.token };
  }
  const [spent] = await tx
    .select({
      sessionId: spentRefreshTokens.sessionId,
      tenantId: spentRefreshTokens.tenantId,
      userId: sessions.userId,
    })
    .from(spentRefreshTokens)
    .innerJoin(sessions, eq(sessions.id, spentRefreshTokens.sessionId))
    .where(eq(spentRefreshTokens.tokenHash, oldHash))
    .limit(1);
  if (!spent) return { outcome: 'invalid' };
  const ended = await endSessions(tx, eq(sessions.id, spent.sessionId), 'REFRESH_TOKEN_REUSE', now);
  return { outcome: 'reused', ...spent, endedNow: ended.length > 0 };
}

export interface EndedSession {
  id: string;
  tenantId: string;
  userId: string;
  endedAt?: Date | null;
}

/** Ends every still-active session matching `where`; returns the ones it ended. */
export async function endSessions(
  db: Executor,
  where: SQL | undefined,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  return db
    .update(sessions)
    .set({ endedAt: now, endReason: reason })
    .where(and(where, isNull(sessions.endedAt)))
    .returning({
      id: sessions.id,
      tenantId: sessions.tenantId,
      userId: sessions.userId,
      endedAt: sessions.endedAt,
    });
}

export function endUserSessions(
  db: Executor,
  tenantId: string,
  userId: string,
  reason: SessionEndReason,
  now: Date,
  exceptSessionId?: string,
) {
  const base = and(eq(sessions.tenantId, tenantId), eq(sessions.userId, userId));
  return endSessions(
    db,
    exceptSessionId ? and(base, sql`${sessions.id} <> ${exceptSessionId}`) : base,
    reason,
    now,
  );
}

export async function findActiveSession(db: Executor, tenantId: string, sessionId: string, now: Date) {
  const [row] = await db
    .select()
    .from(sessions)
    .where(
      and(
        eq(sessions.tenantId, tenantId),
        eq(sessions.id, sessionId),
        isNull(sessions.endedAt),
        gt(sessions.expiresAt, now),
      ),
    )
    .limit(1);
  return row;
}

/** A session together with whether its user and tenant may still use it. */
export async function loadSessionAccount(db: Executor, sessionId: string) {
  const [row] = await db
    .select({ user: users, tenant: tenants })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .innerJoin(tenants, eq(tenants.id, sessions.tenantId))
    .where(eq(sessions.id, sessionId))
    .limit(1);
  return row;
}
