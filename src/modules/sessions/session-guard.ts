import type { Role, TenantRow } from '../../db/schema.js';
import type { UserCaller } from '../../kernel/caller.js';
import type { Clock } from '../../kernel/clock.js';
import { UnauthenticatedError } from '../../kernel/errors.js';
import type { IdentityCache, SessionState, UserView } from '../cache/identity-cache.js';

export interface ActiveSession {
  sessionId: string;
  userId: string;
  tenantId: string;
  role: Role;
  tenantIsSystem: boolean;
  expiresAt: Date;
  /** The tenant requires a second factor for this role and the user has none: enrolment only. */
  mfaEnrollmentRequired: boolean;
}

/**
 * The check that sits on every authenticated request: is the token's session still active, and
 * are its user and tenant still allowed in? Its three facts (session, user, tenant) come from the
 * identity cache — in-process, then Redis, then PostgreSQL — which every write that ends a
 * session or changes a user or tenant invalidates on every instance before it answers.
 */
export class SessionGuard {
  constructor(
    private readonly cache: IdentityCache,
    private readonly clock: Clock,
    private readonly systemTenantSlug: string,
  ) {}

  /**
   * Throws UNAUTHENTICATED unless the session is active for this user and tenant. Answers at once
   * (no promise) when this process holds all three facts, as it does for most requests: a caller
   * on the hot path then waits on nothing. Otherwise reads them through Redis and PostgreSQL.
   */
  check(sessionId: string, tenantId: string, userId: string): ActiveSession | Promise<ActiveSession> {
    return this.#checkInMemory(sessionId, tenantId, userId) ?? this.#readThrough(sessionId, tenantId, userId);
  }

  /** `check`, always as a promise: for callers that wait anyway. */
  async assertActive(sessionId: string, tenantId: string, userId: string): Promise<ActiveSession> {
    return this.check(sessionId, tenantId, userId);
  }

  async #readThrough(sessionId: string, tenantId: string, userId: string): Promise<ActiveSession> {
    const [sessions, users, tenant] = await Promise.all([
      this.cache.sessionsOf(tenantId, [sessionId]),
      this.cache.usersOf(tenantId, [userId]),
      this.cache.tenant(tenantId),
    ]);
    return this.#decide(sessionId, tenantId, userId, sessions.get(sessionId), users.get(userId), tenant);
  }

  /** The check from this process's memory alone: undefined when one of the three facts is not held here. */
  #checkInMemory(sessionId: string, tenantId: string, userId: string): ActiveSession | undefined {
    const session = this.cache.sessions.peek(tenantId, sessionId);
    const user = session && this.cache.users.peek(tenantId, userId);
    const tenant = user && this.cache.tenants.peek(tenantId, tenantId);
    if (!tenant) return undefined;
    return this.#decide(sessionId, tenantId, userId, session, user, tenant);
  }

  #decide(
    sessionId: string,
    tenantId: string,
    userId: string,
    session: SessionState | undefined,
    user: UserView | undefined,
    tenant: TenantRow | undefined,
  ): ActiveSession {
    if (
      !session ||
      session.ended ||
      session.userId !== userId ||
      session.expiresAt.getTime() <= this.clock.now().getTime() ||
      user?.status !== 'ACTIVE' ||
      tenant?.status !== 'ACTIVE'
    ) {
      throw new UnauthenticatedError();
    }
    return {
      sessionId,
      userId,
      tenantId,
      role: user.role,
      tenantIsSystem: tenant.slug === this.systemTenantSlug,
      expiresAt: session.expiresAt,
      mfaEnrollmentRequired:
        user.mfaEnabled !== true && (tenant.settings.mfaRequiredForRoles ?? []).includes(user.role),
    };
  }

  /** Session checks held in this process. */
  get size(): number {
    return this.cache.sessions.size;
  }

  /** False while checks bypass the in-process cache (see InvalidationBus). */
  get cachingEnabled(): boolean {
    return this.cache.localCaching;
  }
}

/**
 * The caller an active session proves, for the access token that named it. Role, system access
 * and the enrolment requirement come from the check (the live rows), never from the token: a
 * demotion or suspension takes effect at once.
 */
export function callerFrom(active: ActiveSession, token: { tokenId: string; expiresAt?: Date }): UserCaller {
  return {
    kind: 'user',
    userId: active.userId,
    tenantId: active.tenantId,
    role: active.role,
    sessionId: active.sessionId,
    tokenId: token.tokenId,
    isSystemAdmin: active.role === 'ADMIN' && active.tenantIsSystem,
    tokenExpiresAt: token.expiresAt,
    mfaEnrollmentRequired: active.mfaEnrollmentRequired,
  };
}
