import type { SessionEndReason } from '../../db/schema.js';
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
import { type UnitOfWork, write } from '../../kernel/unit-of-work.js';
import { assertCanManage, reachableUserTenant, userNotFound } from '../users/users.access.js';
import { lockUser } from '../users/users.queries.js';
import {
  type EndedSession,
  endActiveSessionWithin,
  endSession,
  endSessionByRefreshHash,
  endSessionsBeyondNewest,
  endUnexpiredUserSessions,
  endUserSessions,
  findLegacySessionTenant,
  parseRefreshToken,
  type SessionReach,
} from './sessions.queries.js';

export type SessionEndDeps = Pick<Deps, 'db' | 'clock' | 'commitEffects'>;

/**
 * Ends the sessions `end` picks and, when it ended any, audits it: one write. The ended sessions'
 * checks are dropped everywhere and their subscribers told once it has committed.
 */
async function endAndAudit(
  deps: SessionEndDeps,
  /** Whoever ends the sessions, or the user whose own sign-in ends them. */
  caller: Caller | { userId: string },
  origin: RequestOrigin,
  end: (w: UnitOfWork, now: Date) => Promise<EndedSession[]>,
  reason: SessionEndReason,
  action: string,
  audit: (ended: EndedSession[]) => { targetId: string | null; metadata?: Record<string, unknown> },
  within?: UnitOfWork,
): Promise<EndedSession[]> {
  const now = deps.clock.now();
  return write(
    deps,
    async (w) => {
      const ended = await end(w, now);
      const first = ended[0];
      if (first) {
        const details = audit(ended);
        await w.audit(origin, {
          tenantId: first.tenantId,
          ...('kind' in caller ? auditActor(caller) : { actorId: caller.userId }),
          action,
          targetType: 'session',
          targetId: details.targetId,
          metadata: details.metadata ?? null,
          at: now,
        });
      }
      w.sessionsEnded(ended, reason);
      return ended;
    },
    { within },
  );
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
    (w, now) => endSession(w.tx, caller.tenantId, caller.sessionId, 'LOGOUT', now),
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
  const ended = await endAndAudit(
    deps,
    caller,
    origin,
    (w, now) => endUnexpiredUserSessions(w.tx, caller.tenantId, caller.userId, 'LOGOUT', now),
    'LOGOUT',
    'auth.logout',
    (rows) => ({ targetId: caller.sessionId, metadata: { all: true, sessions: rows.length } }),
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
  const reach: SessionReach = isSystemWide(caller)
    ? { kind: 'any' }
    : hasRole(caller, 'ADMIN') || hasScope(caller, 'sessions:revoke')
      ? { kind: 'tenant', tenantId: caller.tenantId }
      : { kind: 'own', tenantId: caller.tenantId, userId: actorIdOf(caller) };
  if (reach.kind === 'own' && caller.kind !== 'user') throw new ForbiddenError();
  if (!isUuid(sessionId)) throw new NotFoundError('Session');
  const ended = await endAndAudit(
    deps,
    caller,
    origin,
    (w, now) => endActiveSessionWithin(w.tx, sessionId, reach, 'REVOKED', now),
    'REVOKED',
    'session.revoked',
    (rows) => ({ targetId: sessionId, metadata: { userId: rows[0]?.userId } }),
  );
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
  const ended = await write(deps, async (w) => {
    const target = await lockUser(w.tx, tenantId, userId);
    if (!target) throw userNotFound();
    if (caller.kind === 'user' && caller.role !== 'ADMIN') {
      if (target.role !== 'USER' && target.role !== 'GUEST') {
        throw new ForbiddenError("MODERATORs may end only USERs' and GUESTs' sessions.");
      }
    } else if (caller.kind === 'user') assertCanManage(caller, target);
    const rows = await endUserSessions(w.tx, tenantId, userId, 'REVOKED', now);
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'session.revoked',
      targetType: 'user',
      targetId: userId,
      metadata: { all: true, sessions: rows.length },
      at: now,
    });
    w.sessionsEnded(rows, 'REVOKED');
    return rows;
  });
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
  const ended = await write(deps, async (w) => {
    const rows = await endSessionByRefreshHash(w.tx, tenantId, presented.hash, 'LOGOUT', now);
    const session = rows[0];
    if (session) {
      await w.audit(origin, {
        tenantId: session.tenantId,
        actorId: session.userId,
        action: 'auth.logout',
        targetType: 'session',
        targetId: session.id,
        metadata: { via: 'oauth_revocation' },
        at: now,
      });
    }
    w.sessionsEnded(rows, 'LOGOUT');
    return rows;
  });
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
  w?: UnitOfWork,
): Promise<number> {
  const ended = await endAndAudit(
    deps,
    { userId: user.userId },
    origin,
    (unit, now) => endSessionsBeyondNewest(unit.tx, user, limit, 'REVOKED', now),
    'REVOKED',
    'session.revoked',
    (rows) => ({ targetId: rows[0]?.id ?? null, metadata: { limit, sessions: rows.map((r) => r.id) } }),
    w,
  );
  return ended.length;
}
