import { and, eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { anyOf } from '../../db/prepared.js';
import { sessions, type TenantRow, tenants, type UserRow, users } from '../../db/schema.js';

/**
 * The cache's refills: what it reads from PostgreSQL on a miss. Always the primary (`Deps.db`):
 * a row read from a lagging replica could let an ended session or a demoted user in again.
 */

export function usersByIds(db: Db, tenantId: string, ids: readonly string[]): Promise<UserRow[]> {
  return db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), anyOf(users.id, ids)));
}

export async function tenantBySlug(db: Db, slug: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.slug, slug)).limit(1);
  return row;
}

export function tenantsById(db: Db, tenantId: string): Promise<TenantRow[]> {
  return db.select().from(tenants).where(eq(tenants.id, tenantId));
}

export function sessionStates(
  db: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<{ id: string; userId: string; expiresAt: Date; endedAt: Date | null }[]> {
  return db
    .select({
      id: sessions.id,
      userId: sessions.userId,
      expiresAt: sessions.expiresAt,
      endedAt: sessions.endedAt,
    })
    .from(sessions)
    .where(and(eq(sessions.tenantId, tenantId), anyOf(sessions.id, ids)));
}
