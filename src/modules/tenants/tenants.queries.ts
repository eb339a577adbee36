import { and, count, eq, getTableColumns, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { isUniqueViolation } from '../../db/errors.js';
import { type SessionEndReason, sessions, type TenantRow, tenants } from '../../db/schema.js';
import { ConflictError } from '../../kernel/errors.js';
import {
  afterCursor,
  type Connection,
  decodeCursor,
  escapeLike,
  orderByKey,
  timestampKey,
  toConnection,
} from '../../kernel/pagination.js';
import { type EndedSession, endSessions } from '../sessions/sessions.queries.js';

export const TENANTS_SLUG_UNIQUE = 'tenants_slug_key';

export type NewTenant = typeof tenants.$inferInsert;

/** Creates a tenant; a slug already in use is CONFLICT on `slug`. */
export async function insertTenant(db: Executor, values: NewTenant): Promise<TenantRow> {
  try {
    const [tenant] = await db.insert(tenants).values(values).returning();
    if (!tenant) throw new Error('tenant insert returned no row');
    return tenant;
  } catch (error) {
    if (isUniqueViolation(error, TENANTS_SLUG_UNIQUE)) {
      throw new ConflictError('slug', 'A tenant with this slug already exists.');
    }
    throw error;
  }
}

/** Creates the tenant unless its slug exists already (the system tenant, at every start). */
export async function insertTenantIfAbsent(db: Executor, values: NewTenant): Promise<void> {
  await db.insert(tenants).values(values).onConflictDoNothing({ target: tenants.slug });
}

export async function findTenantBySlug(db: Executor, slug: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.slug, slug));
  return row;
}

export async function findTenantById(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}

/** Locks the tenant row until commit, so concurrent updates of its settings cannot interleave. */
export async function lockTenant(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).for('update');
  return row;
}

export async function setTenantFields(
  db: Executor,
  id: string,
  changes: Partial<Pick<TenantRow, 'name' | 'status' | 'settings' | 'updatedAt'>>,
): Promise<TenantRow | undefined> {
  const [row] = await db.update(tenants).set(changes).where(eq(tenants.id, id)).returning();
  return row;
}

/** Deletes a tenant with everything it owns (foreign keys cascade). */
export async function deleteTenantRow(db: Executor, id: string): Promise<void> {
  await db.delete(tenants).where(eq(tenants.id, id));
}

/** Ends every session of a tenant not ended yet; returns the ones it ended. */
export function endTenantSessions(
  db: Executor,
  tenantId: string,
  reason: SessionEndReason,
  now: Date,
): Promise<EndedSession[]> {
  return endSessions(db, eq(sessions.tenantId, tenantId), reason, now);
}

/** Served by tenants_created_at_id_idx. */
const CREATED_AT = timestampKey(sql`${tenants.createdAt}`);
const ORDERING = 'tenants:CREATED_AT:ASC';

export async function listTenants(
  db: Executor,
  query: { first: number; after: string | null; search: string | null },
): Promise<Connection<TenantRow>> {
  const cursor = query.after === null ? null : decodeCursor(query.after, ORDERING, CREATED_AT);
  // The expression of the trigram index tenants_search_trgm_idx.
  const where = query.search
    ? sql`(${tenants.slug} || ' ' || lower(${tenants.name})) like ('%' || lower(${escapeLike(query.search)}) || '%')`
    : undefined;
  const rows = await db
    .select({ ...getTableColumns(tenants), sortValue: sql<string>`${CREATED_AT.asText}` })
    .from(tenants)
    .where(and(where, cursor ? afterCursor(CREATED_AT, tenants.id, 'ASC', cursor) : undefined))
    .orderBy(...orderByKey(CREATED_AT, tenants.id, 'ASC'))
    .limit(query.first + 1);
  return toConnection<TenantRow>(rows, {
    first: query.first,
    hasCursor: cursor !== null,
    ordering: ORDERING,
    count: async () => {
      const [row] = await db.select({ n: count() }).from(tenants).where(where);
      return Number(row?.n ?? 0);
    },
  });
}
