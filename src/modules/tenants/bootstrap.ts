import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { type TenantRow, tenants, users } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { checkPasswordPolicy, type PasswordHasher } from '../passwords/index.js';
import { checkEmail } from '../users/user-input.js';
import { defaultTenantSettings } from './settings.js';

export const GENERATED_ADMIN_EMAIL = 'admin@localhost';

export class BootstrapError extends Error {
  override name = 'BootstrapError';
}

/**
 * Makes sure the system tenant exists and has an ADMIN. Runs under the start-up advisory lock,
 * so instances starting together cannot create two of either.
 */
export async function bootstrapSystemTenant(
  db: Db,
  deps: { config: Config; hasher: PasswordHasher; clock: Clock; logger: Logger },
): Promise<TenantRow> {
  const { config, hasher, clock, logger } = deps;
  const now = clock.now();
  await db
    .insert(tenants)
    .values({
      slug: config.systemTenantSlug,
      name: 'System',
      settings: defaultTenantSettings(config.jwt, true),
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: tenants.slug });
  const [system] = await db.select().from(tenants).where(eq(tenants.slug, config.systemTenantSlug));
  if (!system) throw new BootstrapError('The system tenant could not be created.');

  const [admin] = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, system.id), eq(users.role, 'ADMIN'), eq(users.status, 'ACTIVE')))
    .limit(1);
  if (admin) return system;

  const configured = config.bootstrapAdmin;
  let email = GENERATED_ADMIN_EMAIL;
  let password: string;
  let generated = false;
  if (configured.email) {
    const checked = checkEmail(configured.email);
    if ('error' in checked) throw new BootstrapError(`BOOTSTRAP_ADMIN_EMAIL: ${checked.error.message}`);
    email = checked.value;
  }
  if (configured.password) {
    password = configured.password;
    const violations = checkPasswordPolicy(password, { minLength: 12, email });
    if (violations.length > 0) {
      throw new BootstrapError(`BOOTSTRAP_ADMIN_PASSWORD: ${violations.map((v) => v.message).join(' ')}`);
    }
  } else {
    password = randomBytes(18).toString('base64url');
    generated = true;
  }

  await db
    .insert(users)
    .values({
      tenantId: system.id,
      email,
      displayName: 'System administrator',
      passwordHash: await hasher.hash(password),
      role: 'ADMIN',
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing();
  if (generated) {
    // Printed once, on purpose: there is no other way to learn it.
    logger.warn(
      `Created the first system administrator ${email} in tenant "${config.systemTenantSlug}" with the generated password ${password} — sign in and change it now with the changePassword mutation (or set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD before the first start).`,
    );
  } else {
    logger.info({ email, tenant: config.systemTenantSlug }, 'created the first system administrator');
  }
  return system;
}
