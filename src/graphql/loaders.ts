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
  tenantId: string | null;
  tenantById: DataLoader<string, TenantRow | null>;
  userById: DataLoader<string, UserView | null>;
  activeSessionsByUserId: DataLoader<string, SessionRow[]>;
  tenantStats: DataLoader<string, TenantStatsValue | null>;
}

/** Loaders that span tenants; only a system ADMIN's context ever builds them. */
export interface PlatformLoaders {
  tenantStats: DataLoader<string, TenantStatsValue | null>;
}

export function createLoaders(
  db: Db,
  cache: IdentityCache,
  tenantId: string | null,
  now: () => Date = () => new Date(),
): Loaders {
  const tenantById = new DataLoader<string, TenantRow | null>(async (ids) => {
    // A tenant-scoped request only ever sees its own tenant row.
    if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
    const tenant = (await cache.tenant(tenantId)) ?? null;
    return ids.map((id) => (id === tenantId ? tenant : null));
  });

  const userById = new DataLoader<string, UserView | null>(async (ids) => {
    // A malformed id would make PostgreSQL fail the cast; it names nobody, like a missing id.
    if (tenantId === null) return ids.map(() => null);
    const byId = await cache.usersOf(tenantId, ids.filter(isUuid));
    return ids.map((id) => byId.get(id) ?? null);
  });

  const activeSessionsByUserId = new DataLoader<string, SessionRow[]>(async (userIds) => {
    if (tenantId === null) return userIds.map(() => []);
    const rows = await db
      .select()
      .from(sessions)
      .where(
        and(
          eq(sessions.tenantId, tenantId),
          inArray(sessions.userId, [...userIds]),
          isNull(sessions.endedAt),
          gt(sessions.expiresAt, now()),
        ),
      )
      .orderBy(asc(sessions.createdAt), asc(sessions.id));
    const byUser = new Map<string, SessionRow[]>();
    for (const row of rows) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row]);
    return userIds.map((id) => byUser.get(id) ?? []);
  });

  const tenantStats = new DataLoader<string, TenantStatsValue | null>(async (ids) => {
    if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
    const stats = await loadTenantStats(db, [tenantId], now());
    return ids.map((id) => stats.get(id) ?? null);
  });

  return { tenantId, tenantById, userById, activeSessionsByUserId, tenantStats };
}

/** Statistics of a whole page of tenants in three queries instead of three per tenant. */
export function createPlatformLoaders(db: Db, now: () => Date = () => new Date()): PlatformLoaders {
  const tenantStats = new DataLoader<string, TenantStatsValue | null>(async (ids) => {
    const stats = await loadTenantStats(db, ids.filter(isUuid), now());
    return ids.map((id) => stats.get(id) ?? null);
  });
  return { tenantStats };
}
