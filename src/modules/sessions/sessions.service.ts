import { and, desc, eq, gt, isNull, notInArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type SessionEndReason, sessions } from '../../db/schema.js';
import { transaction } from '../../db/transaction.js';
import {
  actorIdOf,
  auditActor,
  hasRole,
  hasScope,
  isSystemWide,
  requireRoleOrScope,
} from '../../kernel/caller.js';
import type { Caller, Deps, RequestOrigin, UserCaller } from '../../kernel/context.js';
import { ForbiddenError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { recordAuditEvent } from '../audit/audit.service.js';
import { type SessionEndedPayload, topics } from '../realtime/topics.js';
import { assertCanManage, reachableUserTenant, userNotFound } from '../users/users.access.js';
import { lockUser } from '../users/users.queries.js';
import {
  type EndedSession,
  endSessions,
  endUserSessions,
  findLegacySessionTenant,
  parseRefreshToken,
} from './sessions.queries.js';

export type SessionEndDeps = Pick<Deps, 'db' | 'clock' | 'cache' | 'events'>;

/**
 * Everything that must happen once ended sessions are committed — the one place every ended
 * session passes: their access tokens stop working at once on every instance (the session
 * checks are invalidated everywhere before this resolves), then each user's `sessionEnded`
 * subscribers hear of it (and that session's own WebSockets close). Await it before answering,
 * so that the client's next request finds the session ended on any instance.
 */
export async function afterSessionsEnded(
  deps: Pick<Deps, 'cache' | 'events' | 'clock'>,
  ended: EndedSession[],
  reason: SessionEndReason,
): Promise<void> {
  if (ended.length === 0) return;
  const byTenant = new Map<string, string[]>();
  for (const session of ended)
    byTenant.set(session.tenantId, [...(byTenant.get(session.tenantId) ?? []), session.id]);
  await Promise.all(
    [...byTenant].map(([tenantId, sessions]) => deps.cache.invalidate({ tenantId, sessions })),
  );
  const at = deps.clock.now();
  await Promise.all(
    ended.map((session) =>
      deps.events.publish(topics.sessionEnded(session.tenantId, session.userId), {
        sessionId: session.id,
        userId: session.userId,
        tenantId: session.tenantId,
        reason,
        at: (session.endedAt ?? at).toISOString(),
      } satisfies SessionEndedPayload),
    ),
  );
}

async function endAndAudit(
  deps: SessionEndDeps,
  /** Whoever ends the sessions, or the user whose own sign-in ends them. */
  caller: Caller | { userId: string },
  origin: RequestOrigin,
  where: ReturnType<typeof and>,
  reason: SessionEndReason,
  action: string,
  audit: (
    tx: Executor,
    ended: EndedSession[],
  ) => { targetId: string | null; metadata?: Record<string, unknown> },
): Promise<EndedSession[]> {
  const now = deps.clock.now();
  const ended = await transaction(deps.db, async (tx) => {
    const rows = await endSessions(tx, where, reason, now);
    if (rows.length > 0) {
      const first = rows[0] as EndedSession;
      const details = audit(tx, rows);
      await recordAuditEvent(tx, origin, {
        tenantId: first.tenantId,
        ...('kind' in caller ? auditActor(caller) : { actorId: caller.userId }),
        action,
        targetType: 'session',
        targetId: details.targetId,
        metadata: details.metadata ?? null,
        at: now,
      });
    }
    return rows;
  });
  await afterSessionsEnded(deps, ended, reason);
  return ended;
}

/** Ends the caller's current session. */
export async function logout(
  deps: SessionEndDeps,
  caller: UserCaller,
  origin: RequestOrigin,
): Promise<boolean> {
  const ended = await endAndAudit(
    deps,
    caller,
    origin,
    and(eq(sessions.tenantId, caller.tenantId), eq(sessions.id, caller.sessionId)),
    'LOGOUT',
    'auth.logout',
    () => ({ targetId: caller.sessionId }),
  );
  return ended.length > 0;
}

/** Ends every active session of the caller, the current one included; returns how many. */
export async function logoutAll(
  deps: SessionEndDeps,
  caller: UserCaller,
  origin: RequestOrigin,
): Promise<number> {
  const now = deps.clock.now();
  const ended = await endAndAudit(
    deps,
    caller,
    origin,
    and(
      eq(sessions.tenantId, caller.tenantId),
      eq(sessions.userId, caller.userId),
      gt(sessions.expiresAt, now),
    ),
    'LOGOUT',
    'auth.logout',
    (_tx, rows) => ({ targetId: caller.sessionId, metadata: { all: true, sessions: rows.length } }),
  );
  return ended.length;
}

/**
 * Ends one session. Whose sessions the caller may end follows from who they are: their own, any
 * in their tenant (tenant ADMINs), or any at all (system ADMINs). Anything outside that is
 * NOT_FOUND, exactly like an id that does not exist.
 */
export async function revokeSession(
  deps: SessionEndDeps,
  caller: Caller,
  origin: RequestOrigin,
  sessionId: string,
): Promise<boolean> {
  // A service with sessions:revoke acts as an ADMIN would: its tenant (system-tenant services: any).
  const scope = isSystemWide(caller)
    ? ({ kind: 'any' } as const)
    : hasRole(caller, 'ADMIN') || hasScope(caller, 'sessions:revoke')
      ? ({ kind: 'tenant', tenantId: caller.tenantId } as const)
      : ({ kind: 'own' } as const);
  if (scope.kind === 'own' && caller.kind !== 'user') throw new ForbiddenError();
  if (!isUuid(sessionId)) throw new NotFoundError('Session');
  const now = deps.clock.now();
  const owner =
    scope.kind === 'own'
      ? and(eq(sessions.tenantId, caller.tenantId), eq(sessions.userId, actorIdOf(caller)))
      : scope.kind === 'tenant'
        ? eq(sessions.tenantId, scope.tenantId)
        : undefined;
  const where = and(eq(sessions.id, sessionId), owner, isNull(sessions.endedAt), gt(sessions.expiresAt, now));
  const ended = await endAndAudit(deps, caller, origin, where, 'REVOKED', 'session.revoked', (_tx, rows) => ({
    targetId: sessionId,
    metadata: { userId: rows[0]?.userId },
  }));
  if (ended.length === 0) throw new NotFoundError('Session');
  return true;
}

/**
 * Ends every session of one user; returns how many. ADMINs (system ADMINs: any tenant),
 * MODERATORs for USERs and GUESTs, services with sessions:revoke (in their tenant). A user the
 * caller cannot reach is NOT_FOUND, like one that does not exist.
 */
export async function revokeUserSessions(
  deps: SessionEndDeps,
  caller: Caller,
  origin: RequestOrigin,
  userId: string,
): Promise<number> {
  requireRoleOrScope(caller, 'MODERATOR', 'sessions:revoke');
  const tenantId = await reachableUserTenant(deps, caller, userId);
  const now = deps.clock.now();
  const ended = await transaction(deps.db, async (tx) => {
    const target = await lockUser(tx, tenantId, userId);
    if (!target) throw userNotFound();
    if (caller.kind === 'user' && caller.role !== 'ADMIN') {
      if (target.role !== 'USER' && target.role !== 'GUEST') {
        throw new ForbiddenError("MODERATORs may end only USERs' and GUESTs' sessions.");
      }
    } else if (caller.kind === 'user') assertCanManage(caller, target);
    const rows = await endUserSessions(tx, tenantId, userId, 'REVOKED', now);
    await recordAuditEvent(tx, origin, {
      tenantId,
      ...auditActor(caller),
      action: 'session.revoked',
      targetType: 'user',
      targetId: userId,
      metadata: { all: true, sessions: rows.length },
      at: now,
    });
    return rows;
  });
  await afterSessionsEnded(deps, ended, 'REVOKED');
  return ended.length;
}

/**
 * Ends the session a refresh token belongs to (OAuth token revocation, RFC 7009: holding the
 * token is the proof). Unknown, spent or already ended tokens change nothing; the answer is the
 * same either way, so it tells nothing about the token.
 */
export async function endSessionByRefreshToken(
  deps: SessionEndDeps,
  refreshToken: string,
  origin: RequestOrigin,
): Promise<boolean> {
  const presented = refreshToken.length <= 200 ? parseRefreshToken(refreshToken) : undefined;
  if (!presented) return false;
  // The tenant is in the token; a token of the older shape names its tenant through its session.
  const tenantId =
    presented.kind === 'current'
      ? presented.tenantId
      : await findLegacySessionTenant(deps.db, presented.hash);
  if (!tenantId) return false;
  const now = deps.clock.now();
  const ended = await transaction(deps.db, async (tx) => {
    const rows = await endSessions(
      tx,
      and(eq(sessions.tenantId, tenantId), eq(sessions.refreshTokenHash, presented.hash)),
      'LOGOUT',
      now,
    );
    const session = rows[0];
    if (session) {
      await recordAuditEvent(tx, origin, {
        tenantId: session.tenantId,
        actorId: session.userId,
        action: 'auth.logout',
        targetType: 'session',
        targetId: session.id,
        metadata: { via: 'oauth_revocation' },
        at: now,
      });
    }
    return rows;
  });
  await afterSessionsEnded(deps, ended, 'LOGOUT');
  return ended.length > 0;
}

/**
 * Keeps a user within `limit` active sessions: after a sign-in, the oldest beyond the newest
 * `limit` end (reason REVOKED, audited as `session.revoked` with `limit`). A user's session list
 * is then bounded whatever a client does, and with it every answer that lists sessions.
 */
export async function endSessionsOverLimit(
  deps: SessionEndDeps,
  user: { tenantId: string; userId: string },
  limit: number,
  origin: RequestOrigin,
): Promise<number> {
  const now = deps.clock.now();
  const active = and(
    eq(sessions.tenantId, user.tenantId),
    eq(sessions.userId, user.userId),
    isNull(sessions.endedAt),
    gt(sessions.expiresAt, now),
  );
  const newest = deps.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(active)
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
    .limit(limit);
  const ended = await endAndAudit(
    deps,
    { userId: user.userId },
    origin,
    and(active, notInArray(sessions.id, newest)),
    'REVOKED',
    'session.revoked',
    (_tx, rows) => ({ targetId: rows[0]?.id ?? null, metadata: { limit, sessions: rows.map((r) => r.id) } }),
  );
  return ended.length;
}
