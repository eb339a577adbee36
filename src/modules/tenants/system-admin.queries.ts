import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type Role, users } from '../../db/schema.js';

/** The system tenant's user with this email (case-insensitive), if any. */
export async function findSystemUserByEmail(
  db: Executor,
  systemTenantId: string,
  email: string,
): Promise<{ id: string; email: string; role: Role } | undefined> {
  const [row] = await db
    .select({ id: users.id, email: users.email, role: users.role })
    .from(users)
    .where(and(eq(users.tenantId, systemTenantId), sql`lower(${users.email}) = lower(${email})`))
    .limit(1);
  return row;
}

/** A new password, and the account active and unlocked (an operator is vouching for it). */
export async function setAdminPassword(
  db: Executor,
  systemTenantId: string,
  userId: string,
  passwordHash: string,
  now: Date,
): Promise<void> {
  await db
    .update(users)
    .set({ passwordHash, status: 'ACTIVE', failedLoginCount: 0, lockedUntil: null, updatedAt: now })
    .where(and(eq(users.tenantId, systemTenantId), eq(users.id, userId)));
}

export async function insertAdmin(
  db: Executor,
  systemTenantId: string,
  email: string,
  passwordHash: string,
  now: Date,
): Promise<{ id: string }> {
  const [row] = await db
    .insert(users)
    .values({
      tenantId: systemTenantId,
      email,
      displayName: 'System administrator',
      passwordHash,
      role: 'ADMIN',
      createdAt: now,
      updatedAt: now,
    })
    .returning({ id: users.id });
  if (!row) throw new Error('the administrator could not be created');
  return row;
}
