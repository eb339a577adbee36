import DataLoader from 'dataloader';
import { and, asc, eq, gt, inArray, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { type SessionRow, sessions, type TenantRow } from '../db/schema.js';
import { isUuid } from '../lib/ids.js';
import type { IdentityCache, UserView } from '../modules/cache/identity-cache.js';
import { loadTenantStats, type TenantStatsValue } from '../modules/tenants/tenant-stats.queries.js';

/**
 * Per-request batch loaders, built for one tenant. Every query filters by that tenant id, so a
 * resolver handed an id from another tenant simply finds nothing. Users and tenants come through
 * the identity cache (keyed by that same tenant id); users without their password hash.
 */
export interface Loaders {
  readonly tenantId: string | null;
  readonly tenantById: DataLoader<string, TenantRow | null>;
  readonly userById: DataLoader<string, UserView | null>;
  readonly activeSessionsByUserId: DataLoader<string, SessionRow[]>;
  readonly tenantStats: DataLoader<string, TenantStatsValue | null>;
}

/** Loaders that span tenants; only a system ADMIN's context ever builds them. */
export interface PlatformLoaders {
  tenantStats: DataLoader<string, TenantStatsValue | null>;
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

  constructor(
    private readonly db: Db,
    private readonly cache: IdentityCache,
    readonly tenantId: string | null,
    private readonly now: () => Date,
  ) {}

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
      const rows = await db
        .select()
        .from(sessions)
        .where(
          and(
            eq(sessions.tenantId, tenantId),
            inArray(sessions.userId, [...userIds]),
            isNull(sessions.endedAt),
            gt(sessions.expiresAt, this.now()),
          ),
        )
        .orderBy(asc(sessions.createdAt), asc(sessions.id));
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
      const { tenantId, db } = this;
      if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
      const stats = await loadTenantStats(db, [tenantId], this.now());
      return ids.map((id) => stats.get(id) ?? null);
    });
    return this.#tenantStats;
  }
}

export function createLoaders(
  db: Db,
  cache: IdentityCache,
  tenantId: string | null,
  now: () => Date = () => new Date(),
): Loaders {
  return new TenantLoaders(db, cache, tenantId, now);
}

/** Statistics of a whole page of tenants in three queries instead of three per tenant. */
export function createPlatformLoaders(db: Db, now: () => Date = () => new Date()): PlatformLoaders {
  const tenantStats = new DataLoader<string, TenantStatsValue | null>(async (ids) => {
    const stats = await loadTenantStats(db, ids.filter(isUuid), now());
    return ids.map((id) => stats.get(id) ?? null);
  });
  return { tenantStats };
}
