import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { type Role, sessions, tenants, users } from '../../db/schema.js';
import { UnauthenticatedError } from '../../graphql/errors.js';
import type { Clock } from '../../lib/clock.js';

export interface ActiveSession {
  sessionId: string;
  userId: string;
  tenantId: string;
  role: Role;
  tenantIsSystem: boolean;
  expiresAt: Date;
}

/** What changed, so that cached session checks depending on it are dropped. */
export type SessionInvalidation =
  | { kind: 'session'; sessionIds: string[] }
  | { kind: 'user'; userId: string }
  | { kind: 'tenant'; tenantId: string };

interface CacheEntry {
  session: ActiveSession;
  cachedAt: number;
}

/**
 * The check that sits on every authenticated request: is the token's session still active,
 * and are its user and tenant still allowed in? Answers come from one indexed query and are
 * then kept in memory until something that could change them happens here (every write that
 * ends a session or changes a user or tenant calls `invalidate`), or until `maxAgeMs` passes as
 * a safety net. Other instances learn of writes through `onInvalidate` subscribers.
 */
export class SessionGuard {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly listeners: ((change: SessionInvalidation) => void | Promise<void>)[] = [];
  private caching = true;
  private readonly lookup;

  constructor(
    db: Db,
    private readonly clock: Clock,
    private readonly systemTenantSlug: string,
    private readonly options: { maxEntries?: number; maxAgeMs?: number } = {},
  ) {
    this.lookup = db
      .select({
        sessionId: sessions.id,
        userId: sessions.userId,
        tenantId: sessions.tenantId,
        expiresAt: sessions.expiresAt,
        endedAt: sessions.endedAt,
        role: users.role,
        userStatus: users.status,
        tenantStatus: tenants.status,
        tenantSlug: tenants.slug,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .innerJoin(tenants, eq(tenants.id, sessions.tenantId))
      .where(and(eq(sessions.id, sql.placeholder('sid')), eq(sessions.tenantId, sql.placeholder('tid'))))
      .prepare('session_guard_lookup');
  }

  /** Throws UNAUTHENTICATED unless the session is active for this user and tenant. */
  async assertActive(sessionId: string, tenantId: string, userId: string): Promise<ActiveSession> {
    const now = this.clock.now().getTime();
    const cached = this.caching ? this.cache.get(sessionId) : undefined;
    if (cached && now - cached.cachedAt < (this.options.maxAgeMs ?? 60_000)) {
      if (
        cached.session.expiresAt.getTime() > now &&
        cached.session.userId === userId &&
        cached.session.tenantId === tenantId
      ) {
        return cached.session;
      }
      this.cache.delete(sessionId);
      throw new UnauthenticatedError();
    }
    const [row] = await this.lookup.execute({ sid: sessionId, tid: tenantId });
    if (
      !row ||
      row.userId !== userId ||
      row.endedAt !== null ||
      row.expiresAt.getTime() <= now ||
      row.userStatus !== 'ACTIVE' ||
      row.tenantStatus !== 'ACTIVE'
    ) {
      this.cache.delete(sessionId);
      throw new UnauthenticatedError();
    }
    const session: ActiveSession = {
      sessionId: row.sessionId,
      userId: row.userId,
      tenantId: row.tenantId,
      role: row.role,
      tenantIsSystem: row.tenantSlug === this.systemTenantSlug,
      expiresAt: row.expiresAt,
    };
    if (this.caching) this.remember(sessionId, { session, cachedAt: now });
    return session;
  }

  /**
   * Called after the write commits. Also tells subscribers (other instances) about it; the
   * promise settles once they have been told (it never rejects), so a caller that awaits it
   * answers its client only when no instance will accept the old state any more.
   */
  async invalidate(change: SessionInvalidation): Promise<void> {
    this.forget(change);
    await Promise.allSettled(this.listeners.map(async (listener) => listener(change)));
  }

  /**
   * Turns the cache off (every check asks the database) or back on, empty. Whoever shares
   * invalidations between instances turns it off while it could be missing some.
   */
  setCaching(enabled: boolean): void {
    this.cache.clear();
    this.caching = enabled;
  }

  /** Applies a change that happened elsewhere, without telling anyone again. */
  forget(change: SessionInvalidation): void {
    if (change.kind === 'session') {
      for (const id of change.sessionIds) this.cache.delete(id);
      return;
    }
    for (const [id, entry] of this.cache) {
      if (
        change.kind === 'user'
          ? entry.session.userId === change.userId
          : entry.session.tenantId === change.tenantId
      ) {
        this.cache.delete(id);
      }
    }
  }

  onInvalidate(listener: (change: SessionInvalidation) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.cache.size;
  }

  /** False while checks bypass the cache (see setCaching). */
  get cachingEnabled(): boolean {
    return this.caching;
  }

  private remember(sessionId: string, entry: CacheEntry) {
    this.cache.delete(sessionId);
    this.cache.set(sessionId, entry);
    const max = this.options.maxEntries ?? 50_000;
    while (this.cache.size > max) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
