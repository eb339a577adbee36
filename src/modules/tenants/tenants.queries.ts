import { and, count, eq, getTableColumns, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type TenantRow, tenants } from '../../db/schema.js';
import {
  afterCursor,
  type Connection,
  decodeCursor,
  escapeLike,
  orderByKey,
  timestampKey,
  toConnection,
} from '../../kernel/pagination.js';

export const TENANTS_SLUG_UNIQUE = 'tenants_slug_key';

export async function findTenantById(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}

/** Locks the tenant row until commit, so concurrent updates of its settings cannot interleave. */
export async function lockTenant(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).for('update');
  return row;
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
