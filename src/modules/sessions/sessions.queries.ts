import { createHash, randomBytes } from 'node:crypto';
import { and, asc, desc, eq, gt, isNull, notInArray, type SQL, sql } from 'drizzle-orm';
import { type Db, type Executor, executeRows, LOCKS } from '../../db/client.js';
import { anyOf, fieldsOf, onPool, preparedPerDatabase } from '../../db/prepared.js';
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
import type { RequestOrigin } from '../../kernel/context.js';
import { openSuccessor, sealSuccessor } from './refresh-successor.js';

/**
 * A refresh token is its session's tenant id and 256 random bits, `<tenant>.<secret>` (both
 * base64url; opaque to clients). The tenant inside lets refresh and reuse detection find the
 * session by `(tenant_id, hash)`: one shard of a table distributed by tenant. Only the SHA-256 of
 * the whole token is stored. Tokens issued before carried no tenant (`<secret>` alone): see
 * `parseRefreshToken`.
 */
export function newRefreshToken(tenantId: string): { token: string; hash: Buffer } {
  const tenant = Buffer.from(tenantId.replaceAll('-', ''), 'hex').toString('base64url');
  const token = `${tenant}.${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** What a presented refresh token says about itself; undefined when it is no token of ours. */
export type PresentedRefreshToken =
  | { kind: 'current'; tenantId: string; hash: Buffer }
  | { kind: 'legacy'; hash: Buffer };

const SECRET = /^[A-Za-z0-9_-]{43}$/;
const TENANT = /^[A-Za-z0-9_-]{22}$/;

export function parseRefreshToken(token: string): PresentedRefreshToken | undefined {
  const dot = token.indexOf('.');
  if (dot < 0) return SECRET.test(token) ? { kind: 'legacy', hash: hashRefreshToken(token) } : undefined;
  const tenant = token.slice(0, dot);
  if (!TENANT.test(tenant) || !SECRET.test(token.slice(dot + 1))) return undefined;
  const hex = Buffer.from(tenant, 'base64url').toString('hex');
  if (hex.length !== 32) return undefined;
  const tenantId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { kind: 'current', tenantId, hash: hashRefreshToken(token) };
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
  const { token, hash } = newRefreshToken(input.tenantId);
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
 * matches), record the old token as spent (with its successor sealed for the reuse grace), and
 * read the user and tenant for the new access token. A session whose user or tenant is no longer
 * ACTIVE does not match at all. Every table is reached with the tenant id from the token.
 */
const rotationStatement = preparedPerDatabase((db: Db) => {
  const rotated = db.$with('rotated').as(
    db
      .update(sessions)
      .set({
        refreshTokenHash: sql`${placeholder('newHash')}`,
        legacyRefreshToken: false,
        rotationCounter: sql`${sessions.rotationCounter} + 1`,
        lastUsedAt: sql`${placeholder('now')}`,
        ipAddress: sql`coalesce(${placeholder('ip')}, ${sessions.ipAddress})`,
        userAgent: sql`coalesce(${placeholder('userAgent')}, ${sessions.userAgent})`,
      })
      .where(
        and(
          sql`${sessions.tenantId} = ${placeholder('tenantId')}`,
          sql`${sessions.refreshTokenHash} = ${placeholder('oldHash')}`,
          isNull(sessions.endedAt),
          sql`${sessions.expiresAt} > ${placeholder('now')}`,
          sql`exists (select 1 from ${users} join ${tenants} on ${tenants.id} = ${users.tenantId}
            where ${users.tenantId} = ${placeholder('tenantId')} and ${users.id} = ${sessions.userId}
            and ${users.status} = 'ACTIVE' and ${tenants.status} = 'ACTIVE')`,
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
            tenantId: rotated.tenantId,
            tokenHash: sql`${placeholder('oldHash')}::bytea`.as('token_hash'),
            sessionId: rotated.id,
            spentAt: sql`${placeholder('now')}::timestamptz`.as('spent_at'),
            successor: sql`${placeholder('successor')}::bytea`.as('successor'),
          })
          .from(rotated),
      )
      .returning({ sessionId: spentRefreshTokens.sessionId }),
  );
  return (
    db
      .with(rotated, spent)
      .select({ session: fieldsOf(sessions, rotated), user: users, tenant: tenants })
      .from(rotated)
      // The tenant as a value (not only through the join), so the plan reaches one partition or shard.
      .innerJoin(
        users,
        and(sql`${users.tenantId} = ${placeholder('tenantId')}`, eq(users.id, rotated.userId)),
      )
      .innerJoin(tenants, sql`${tenants.id} = ${placeholder('tenantId')}`)
      .prepare('rotateRefreshToken')
  );
});

/**
 * The tenant of a session whose current refresh token is one issued before tokens carried their
 * tenant. Such sessions were open when that change was deployed; their next rotation hands out a
 * new-format token, so this look-up (the only refresh path that does not know the tenant, and so
 * fans out) serves each of them once at most.
 */
export async function findLegacySessionTenant(db: Executor, hash: Buffer): Promise<string | undefined> {
  const [row] = await db
    .select({ tenantId: sessions.tenantId })
    .from(sessions)
    .where(and(sql`${sessions.legacyRefreshToken}`, eq(sessions.refreshTokenHash, hash)))
    .limit(1);
  return row?.tenantId;
}

/**
 * Exchanges a refresh token for a new one; undefined when the token is not the current one of an
 * active session whose user and tenant are active (see `findSpentRefreshToken` for why not).
 */
export async function rotateRefreshToken(
  db: Executor,
  presented: { token: string; tenantId: string; hash: Buffer },
  now: Date,
  origin: RequestOrigin,
): Promise<Rotation | undefined> {
  const next = newRefreshToken(presented.tenantId);
  // Placeholders in SQL skip Drizzle's value mapping: the time goes in as the text a column would send.
  const [row] = await rotationStatement(onPool(db)).execute({
    tenantId: presented.tenantId,
    oldHash: presented.hash,
    newHash: next.hash,
    successor: sealSuccessor(presented.token, next.token),
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

export interface SpentRefreshToken {
  sessionId: string;
  tenantId: string;
  userId: string;
  spentAt: Date;
  successor: Buffer | null;
}

/**
 * The session a refresh token was already exchanged for, if it was: presenting it again is a sign
 * it was stolen (after the reuse grace), and the caller ends that session.
 */
export async function findSpentRefreshToken(
  db: Executor,
  tenantId: string,
  hash: Buffer,
): Promise<SpentRefreshToken | undefined> {
  const [spent] = await db
    .select({
      sessionId: spentRefreshTokens.sessionId,
      tenantId: spentRefreshTokens.tenantId,
      userId: sessions.userId,
      spentAt: spentRefreshTokens.spentAt,
      successor: spentRefreshTokens.successor,
    })
    .from(spentRefreshTokens)
    .innerJoin(
      sessions,
      and(eq(sessions.tenantId, spentRefreshTokens.tenantId), eq(sessions.id, spentRefreshTokens.sessionId)),
    )
    .where(and(eq(spentRefreshTokens.tenantId, tenantId), eq(spentRefreshTokens.tokenHash, hash)))
    .limit(1);
  return spent;
}

/** What the reuse grace hands back: the session, who it belongs to, and its current token. */
export type GraceAnswer = Rotation;

/**
 * Within the reuse grace: the session's current refresh token, read through the successors sealed
 * for each spent token (a spent token opens the token that replaced it, which opens the next if
 * that one was spent too, up to the current one). Undefined when the chain does not lead to the
 * current token of an active session whose user and tenant are active: then nothing is handed out.
 */
export async function currentTokenAfterSpent(
  db: Executor,
  spent: SpentRefreshToken,
  presented: string,
  now: Date,
): Promise<GraceAnswer | undefined> {
  let token = presented;
  let sealed = spent.successor;
  // A few steps at most: tokens rotated several times within seconds.
  for (let step = 0; step < 16 && sealed; step++) {
    const next = openSuccessor(token, sealed);
    if (next === undefined) return undefined;
    token = next;
    const hash = hashRefreshToken(token);
    const [row] = await db
      .select({ session: sessions, user: users, tenant: tenants })
      .from(sessions)
      .innerJoin(users, and(eq(users.tenantId, sessions.tenantId), eq(users.id, sessions.userId)))
      .innerJoin(tenants, eq(tenants.id, sessions.tenantId))
      .where(
        and(
          eq(sessions.tenantId, spent.tenantId),
          eq(sessions.id, spent.sessionId),
          eq(sessions.refreshTokenHash, hash),
          isNull(sessions.endedAt),
          gt(sessions.expiresAt, now),
          eq(users.status, 'ACTIVE'),
          eq(tenants.status, 'ACTIVE'),
        ),
      )
      .limit(1);
    if (row) return { ...row, refreshToken: token };
    const [again] = await db
      .select({ successor: spentRefreshTokens.successor })
      .from(spentRefreshTokens)
      .where(and(eq(spentRefreshTokens.tenantId, spent.tenantId), eq(spentRefreshTokens.tokenHash, hash)))
      .limit(1);
    sealed = again?.successor ?? null;
  }
  return undefined;
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

/** Ends one session, active or expired (a logout; a refresh token's reuse). */
export function endSession(
  db: Executor,
  tenantId: string,
  sessionId: string,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  return endSessions(db, and(eq(sessions.tenantId, tenantId), eq(sessions.id, sessionId)), reason, now);
}

/** Ends every session of a user that has not expired yet (logoutAll). */
export function endUnexpiredUserSessions(
  db: Executor,
  tenantId: string,
  userId: string,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  return endSessions(
    db,
    and(eq(sessions.tenantId, tenantId), eq(sessions.userId, userId), gt(sessions.expiresAt, now)),
    reason,
    now,
  );
}

/** Whose sessions a revocation may reach: one user's own, one tenant's, or any at all. */
export type SessionReach =
  | { kind: 'own'; tenantId: string; userId: string }
  | { kind: 'tenant'; tenantId: string }
  | { kind: 'any' };

/** Ends one active session, provided it lies within `reach`. */
export function endActiveSessionWithin(
  db: Executor,
  sessionId: string,
  reach: SessionReach,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  const owner =
    reach.kind === 'own'
      ? and(eq(sessions.tenantId, reach.tenantId), eq(sessions.userId, reach.userId))
      : reach.kind === 'tenant'
        ? eq(sessions.tenantId, reach.tenantId)
        : undefined;
  return endSessions(db, and(eq(sessions.id, sessionId), owner, gt(sessions.expiresAt, now)), reason, now);
}

/** Ends the session whose current refresh token has this hash. */
export function endSessionByRefreshHash(
  db: Executor,
  tenantId: string,
  hash: Buffer,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  return endSessions(
    db,
    and(eq(sessions.tenantId, tenantId), eq(sessions.refreshTokenHash, hash)),
    reason,
    now,
  );
}

/** Ends a user's active sessions beyond the newest `limit` (by creation, then id). */
export function endSessionsBeyondNewest(
  db: Executor,
  user: { tenantId: string; userId: string },
  limit: number,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  const active = and(
    eq(sessions.tenantId, user.tenantId),
    eq(sessions.userId, user.userId),
    isNull(sessions.endedAt),
    gt(sessions.expiresAt, now),
  );
  const newest = db
    .select({ id: sessions.id })
    .from(sessions)
    .where(active)
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
    .limit(limit);
  return endSessions(db, and(active, notInArray(sessions.id, newest)), reason, now);
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

/**
 * One batch of the sessions clean-up (session-cleanup.ts), in a transaction holding a
 * transaction-scoped advisory try-lock: when several instances run the job at once, one works and
 * the others skip (undefined), and a large backlog never holds long locks. Up to `limit` sessions
 * past `expiresAt` are marked ended (EXPIRED), and up to `limit` that ended or expired before
 * `cutoff` are deleted. Both use sessions_cleanup_idx (coalesce(ended_at, expires_at)).
 */
export async function cleanUpSessionsBatch(
  db: Db,
  batch: { now: Date; cutoff: Date; limit: number },
): Promise<{ expired: number; deleted: number } | undefined> {
  return db.transaction(async (tx) => {
    const [lock] = executeRows<{ locked: boolean }>(
      await tx.execute(
        sql`select pg_try_advisory_xact_lock(${LOCKS.sessionCleanup.toString()}::bigint) as locked`,
      ),
    );
    if (!lock?.locked) return undefined;
    const expired = await tx.execute(sql`
      update ${sessions} set ended_at = expires_at, end_reason = 'EXPIRED'
      where (tenant_id, id) in (
        select tenant_id, id from ${sessions}
        where coalesce(ended_at, expires_at) <= ${batch.now.toISOString()}::timestamptz and ended_at is null
        limit ${batch.limit}
      )
      returning id`);
    const deleted = await tx.execute(sql`
      delete from ${sessions}
      where (tenant_id, id) in (
        select tenant_id, id from ${sessions}
        where coalesce(ended_at, expires_at) < ${batch.cutoff.toISOString()}::timestamptz
        limit ${batch.limit}
      )
      returning id`);
    return { expired: executeRows(expired).length, deleted: executeRows(deleted).length };
  });
}

/**
 * Ids travel as one array, so a page of any size is the same prepared statement. Placeholders
 * skip Drizzle's value mapping: the time goes in as the text the column's mapping would send.
 */
const activeSessionsOf = preparedPerDatabase((db: Db) =>
  db
    .select()
    .from(sessions)
    .where(
      and(
        sql`${sessions.tenantId} = ${sql.placeholder('tenantId')}`,
        anyOf(sessions.userId, sql.placeholder('userIds')),
        isNull(sessions.endedAt),
        gt(sessions.expiresAt, sql.placeholder('now')),
      ),
    )
    .orderBy(asc(sessions.createdAt), asc(sessions.id))
    .prepare('activeSessionsOf'),
);

/** The active sessions of some users of one tenant, oldest first (a page's `sessions` fields). */
export function activeSessionsOfUsers(
  db: Db,
  tenantId: string,
  userIds: readonly string[],
  now: Date,
): Promise<SessionRow[]> {
  return activeSessionsOf(db).execute({ tenantId, userIds, now: now.toISOString() });
}
