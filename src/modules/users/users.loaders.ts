import DataLoader from 'dataloader';
import { and, asc, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { anyOf, preparedPerDatabase } from '../../db/prepared.js';
import { type SessionRow, sessions, type TenantRow } from '../../db/schema.js';
import type { Loaders, PlatformLoaders } from '../../kernel/context.js';
import { isUuid } from '../../kernel/ids.js';
import type { IdentityCache, UserView } from '../cache/identity-cache.js';
import { loadTenantStats, type TenantStatsValue } from '../tenants/tenants.stats.queries.js';

declare module '../../kernel/context.js' {
  /**
   * Per-request batch loaders, built for one tenant. Every query filters by that tenant id, so a
   * resolver handed an id from another tenant simply finds nothing. Users and tenants come through
   * the identity cache (keyed by that same tenant id); users without their password hash.
   */
  interface Loaders {
    readonly tenantById: DataLoader<string, TenantRow | null>;
    /**
     * This tenant's row if this process holds it, without waiting: every user on a page names the
     * same tenant, and a promise per row costs more than the lookup.
     */
    tenantInMemory(id: string): TenantRow | undefined;
    /** A user of this tenant if this process holds it, without waiting (the signed-in caller, mostly). */
    userInMemory(id: string): UserView | undefined;
    /**
     * Reads the active sessions of a whole page of users at once, so that each row's `sessions`
     * then resolves without a promise (`activeSessionsLoaded`).
     */
    loadActiveSessions(userIds: readonly string[]): Promise<void>;
    /** The active sessions `loadActiveSessions` read for this user in this request, if it did. */
    activeSessionsLoaded(userId: string): SessionRow[] | undefined;
    readonly userById: DataLoader<string, UserView | null>;
    readonly activeSessionsByUserId: DataLoader<string, SessionRow[]>;
    readonly tenantStats: DataLoader<string, TenantStatsValue | null>;
  }

  /** Loaders that span tenants; only a system ADMIN's context ever builds them. */
  interface PlatformLoaders {
    tenantStats: DataLoader<string, TenantStatsValue | null>;
  }
}

/**
 * Each DataLoader is built on its first use: most requests (`me`, a token check, a sign-in) touch
 * one of them or none, and every request builds a set.
 */
class TenantLoaders implements Loaders {
  #tenantById?: DataLoader<string, TenantRow | null>;
  #userById?: DataLoader<string, UserView | null>;
  #activeSessionsByUserId?: DataLoader<string, SessionRow[]>;
  #tenantStats?: DataLoader<string, TenantStatsValue | null>;
  #sessionsLoaded?: Map<string, SessionRow[]>;

  constructor(
    private readonly db: Db,
    /** Statistics only: they may lag (see Deps.readDb). */
    private readonly readDb: Db,
    private readonly cache: IdentityCache,
    readonly tenantId: string | null,
    private readonly now: () => Date,
  ) {}

  tenantInMemory(id: string): TenantRow | undefined {
    return id === this.tenantId ? this.cache.tenants.peek(id, id) : undefined;
  }

  userInMemory(id: string): UserView | undefined {
    return this.tenantId === null ? undefined : this.cache.users.peek(this.tenantId, id);
  }

  async loadActiveSessions(userIds: readonly string[]): Promise<void> {
    const lists = await this.activeSessionsByUserId.loadMany(userIds);
    this.#sessionsLoaded ??= new Map();
    userIds.forEach((id, i) => {
      const list = lists[i];
      if (Array.isArray(list)) this.#sessionsLoaded?.set(id, list);
    });
  }

  activeSessionsLoaded(userId: string): SessionRow[] | undefined {
    return this.#sessionsLoaded?.get(userId);
  }

  get tenantById(): DataLoader<string, TenantRow | null> {
    this.#tenantById ??= new DataLoader(async (ids) => {
      const { tenantId, cache } = this;
      // A tenant-scoped request only ever sees its own tenant row.
      if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
      const tenant = (await cache.tenant(tenantId)) ?? null;
      return ids.map((id) => (id === tenantId ? tenant : null));
    });
    return this.#tenantById;
  }

  get userById(): DataLoader<string, UserView | null> {
    this.#userById ??= new DataLoader(async (ids) => {
      const { tenantId, cache } = this;
      if (tenantId === null) return ids.map(() => null);
      // A malformed id would make PostgreSQL fail the cast; it names nobody, like a missing id.
      const byId = await cache.usersOf(tenantId, ids.filter(isUuid));
      return ids.map((id) => byId.get(id) ?? null);
    });
    return this.#userById;
  }

  get activeSessionsByUserId(): DataLoader<string, SessionRow[]> {
    this.#activeSessionsByUserId ??= new DataLoader(async (userIds) => {
      const { tenantId, db } = this;
      if (tenantId === null) return userIds.map(() => []);
      const rows = await activeSessionsOf(db).execute({ tenantId, userIds, now: this.now().toISOString() });
      const byUser = new Map<string, SessionRow[]>();
      for (const row of rows) {
        const list = byUser.get(row.userId);
        if (list) list.push(row);
        else byUser.set(row.userId, [row]);
      }
      return userIds.map((id) => byUser.get(id) ?? []);
    });
    return this.#activeSessionsByUserId;
  }

  get tenantStats(): DataLoader<string, TenantStatsValue | null> {
    this.#tenantStats ??= new DataLoader(async (ids) => {
      const { tenantId, readDb } = this;
      if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
      const stats = await loadTenantStats(readDb, [tenantId], this.now());
      return ids.map((id) => stats.get(id) ?? null);
    });
    return this.#tenantStats;
  }
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

export function createLoaders(
  services: { db: Db; readDb?: Db; cache: IdentityCache },
  tenantId: string | null,
  now: () => Date = () => new Date(),
): Loaders {
  return new TenantLoaders(services.db, services.readDb ?? services.db, services.cache, tenantId, now);
}

/** Statistics of a whole page of tenants in three queries instead of three per tenant. */
export function createPlatformLoaders(db: Db, now: () => Date = () => new Date()): PlatformLoaders {
  const tenantStats = new DataLoader<string, TenantStatsValue | null>(async (ids) => {
    const stats = await loadTenantStats(db, ids.filter(isUuid), now());
    return ids.map((id) => stats.get(id) ?? null);
  });
  return { tenantStats };
}
