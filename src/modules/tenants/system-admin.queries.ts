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

/** Some ACTIVE ADMIN of the system tenant, if it has one. */
export async function findActiveAdmin(
  db: Executor,
  systemTenantId: string,
): Promise<{ id: string; email: string } | undefined> {
  const [row] = await db
    .select({ id: users.id, email: users.email })
    .from(users)
    .where(and(eq(users.tenantId, systemTenantId), eq(users.role, 'ADMIN'), eq(users.status, 'ACTIVE')))
    .limit(1);
  return row;
}
