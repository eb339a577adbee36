import DataLoader from 'dataloader';
import { and, asc, eq, gt, inArray, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { type SessionRow, sessions, type TenantRow, tenants, type UserRow, users } from '../db/schema.js';

/**
 * Per-request batch loaders, built for one tenant. Every query filters by that tenant id, so a
 * resolver handed an id from another tenant simply finds nothing.
 */
export interface Loaders {
  tenantId: string | null;
  tenantById: DataLoader<string, TenantRow | null>;
  userById: DataLoader<string, UserRow | null>;
  activeSessionsByUserId: DataLoader<string, SessionRow[]>;
}

export function createLoaders(db: Db, tenantId: string | null, now: () => Date = () => new Date()): Loaders {
  const tenantById = new DataLoader<string, TenantRow | null>(async (ids) => {
    if (tenantId === null) return ids.map(() => null);
    // A tenant-scoped request only ever sees its own tenant row.
    const wanted = ids.filter((id) => id === tenantId);
    const rows = wanted.length ? await db.select().from(tenants).where(eq(tenants.id, tenantId)) : [];
    return ids.map((id) => rows.find((row) => row.id === id) ?? null);
  });

  const userById = new DataLoader<string, UserRow | null>(async (ids) => {
    if (tenantId === null) return ids.map(() => null);
    const rows = await db
      .select()
      .from(users)
      .where(and(eq(users.tenantId, tenantId), inArray(users.id, [...ids])));
    const byId = new Map(rows.map((row) => [row.id, row]));
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

  return { tenantId, tenantById, userById, activeSessionsByUserId };
}
