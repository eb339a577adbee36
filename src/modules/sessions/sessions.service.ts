import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, type SQL, sql } from 'drizzle-orm';
import type { Db, Executor } from '../../db/client.js';
import { fieldsOf, preparedPerDatabase } from '../../db/prepared.js';
import {
  type SessionEndReason,
  type SessionRow,
  sessions,
  spentRefreshTokens,
  type TenantRow,
  tenants,
  type UserRow,
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

/** Where a session was opened or last used, cut to the columns' sizes. */
export function sessionOrigin(origin: RequestOrigin): RequestOrigin {
  return { ip: origin.ip?.slice(0, 64) ?? null, userAgent: origin.userAgent?.slice(0, 512) ?? null };
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
  const { ip, userAgent } = sessionOrigin(input.origin);
  const [session] = await db
    .insert(sessions)
    .values({
      tenantId: input.tenantId,
      userId: input.userId,
      refreshTokenHash: hash,
      ipAddress: ip,
      userAgent,
      createdAt: input.now,
      lastUsedAt: input.now,
      expiresAt: new Date(input.now.getTime() + input.lifetimeSeconds * 1000),
    })
    .returning();
  if (!session) throw new Error('session insert returned no row');
  return { session, refreshToken: token };
}

/** What a successful rotation hands back: the session, who it belongs to, and the new token. */
export interface Rotation {
  session: SessionRow;
  user: UserRow;
  tenant: TenantRow;
  refreshToken: string;
}

const placeholder = (name: string) => sql.placeholder(name);

/**
 * One statement for the whole rotation, so it costs one round trip and no transaction: swap the
 * stored hash (compare-and-swap: of two concurrent refreshes with the same token only one
 * matches), record the old token as spent, and read the user and tenant for the new access
 * token. A session whose user or tenant is no longer ACTIVE does not match at all.
 */
const rotationStatement = preparedPerDatabase((db: Db) => {
  const rotated = db.$with('rotated').as(
    db
      .update(sessions)
      .set({
        refreshTokenHash: sql`${placeholder('newHash')}`,
        rotationCounter: sql`${sessions.rotationCounter} + 1`,
        lastUsedAt: sql`${placeholder('now')}`,
        ipAddress: sql`coalesce(${placeholder('ip')}, ${sessions.ipAddress})`,
        userAgent: sql`coalesce(${placeholder('userAgent')}, ${sessions.userAgent})`,
      })
      .where(
        and(
          sql`${sessions.refreshTokenHash} = ${placeholder('oldHash')}`,
          isNull(sessions.endedAt),
          sql`${sessions.expiresAt} > ${placeholder('now')}`,
          sql`exists (select 1 from ${users} join ${tenants} on ${tenants.id} = ${users.tenantId}
            where ${users.id} = ${sessions.userId} and ${users.status} = 'ACTIVE' and ${tenants.status} = 'ACTIVE')`,
        ),
      )
      .returning(),
  );
  const spent = db.$with('spent').as(
    db
      .insert(spentRefreshTokens)
      .select((qb) =>
        qb
          .select({
            tokenHash: sql`${placeholder('oldHash')}::bytea`.as('token_hash'),
            tenantId: rotated.tenantId,
            sessionId: rotated.id,
            spentAt: sql`${placeholder('now')}::timestamptz`.as('spent_at'),
          })
          .from(rotated),
      )
      .returning({ sessionId: spentRefreshTokens.sessionId }),
  );
  return db
    .with(rotated, spent)
    .select({ session: fieldsOf(sessions, rotated), user: users, tenant: tenants })
    .from(rotated)
    .innerJoin(users, eq(users.id, rotated.userId))
    .innerJoin(tenants, eq(tenants.id, rotated.tenantId))
    .prepare('rotateRefreshToken');
});

/**
 * Exchanges a refresh token for a new one; undefined when the token is not the current one of an
 * active session whose user and tenant are active (see `findSpentRefreshToken` for why not).
 */
export async function rotateRefreshToken(
  db: Db,
  presented: string,
  now: Date,
  origin: RequestOrigin,
): Promise<Rotation | undefined> {
  const next = newRefreshToken();
  // Placeholders in SQL skip Drizzle's value mapping: the time goes in as the text a column would send.
  const [row] = await rotationStatement(db).execute({
    oldHash: hashRefreshToken(presented),
    newHash: next.hash,
    now: now.toISOString(),
    ...sessionOrigin(origin),
  });
  if (!row) return undefined;
  return {
    session: row.session as unknown as SessionRow,
    user: row.user,
    tenant: row.tenant,
    refreshToken: next.token,
  };
}

/**
 * The session a refresh token was already exchanged for, if it was: presenting it again is a sign
 * it was stolen, and the caller ends that session.
 */
export async function findSpentRefreshToken(
  db: Executor,
  presented: string,
): Promise<{ sessionId: string; tenantId: string; userId: string } | undefined> {
  const [spent] = await db
    .select({
      sessionId: spentRefreshTokens.sessionId,
      tenantId: spentRefreshTokens.tenantId,
      userId: sessions.userId,
    })
    .from(spentRefreshTokens)
    .innerJoin(sessions, eq(sessions.id, spentRefreshTokens.sessionId))
    .where(eq(spentRefreshTokens.tokenHash, hashRefreshToken(presented)))
    .limit(1);
  return spent;
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
