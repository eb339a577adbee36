import { eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type TenantRow, tenants } from '../../db/schema.js';

export async function findTenantBySlug(db: Executor, slug: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.slug, slug)).limit(1);
  return row;
}

export async function findTenantById(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}
