import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type UserRow, users } from '../../db/schema.js';

/** Case-insensitive, served by the unique (tenant_id, lower(email)) index. */
export async function findUserByEmail(
  db: Executor,
  tenantId: string,
  email: string,
): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(sql`lower(${users.email})`, email.toLowerCase())))
    .limit(1);
  return row;
}

export async function findUserById(db: Executor, tenantId: string, id: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id)))
    .limit(1);
  return row;
}

export const USERS_EMAIL_UNIQUE = 'users_tenant_email_key';
