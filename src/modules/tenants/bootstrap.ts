import { randomBytes } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Db, Executor } from '../../db/client.js';
import type { TenantRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import { checkPasswordPolicy, type PasswordHasher } from '../passwords/index.js';
import { insertUserIfAbsent } from '../users/users.queries.js';
import { checkEmail } from '../users/users.validation.js';
import { defaultTenantSettings } from './settings.js';
import { findActiveAdmin } from './system-admin.queries.js';
import { findTenantBySlug, insertTenantIfAbsent } from './tenants.queries.js';

export const GENERATED_ADMIN_EMAIL = 'admin@localhost';

export class BootstrapError extends Error {
  override name = 'BootstrapError';
}

/** Creates the system tenant when it is missing; returns it. */
export async function ensureSystemTenant(
  db: Executor,
  deps: { config: Pick<Config, 'systemTenantSlug' | 'jwt'>; clock: Clock },
): Promise<TenantRow> {
  const now = deps.clock.now();
  await insertTenantIfAbsent(db, {
    slug: deps.config.systemTenantSlug,
    name: 'System',
    settings: defaultTenantSettings(deps.config.jwt, true),
    createdAt: now,
    updatedAt: now,
  });
  const system = await findTenantBySlug(db, deps.config.systemTenantSlug);
  if (!system) throw new BootstrapError('The system tenant could not be created.');
  return system;
}

/**
 * Makes sure the system tenant exists and has an ADMIN. Runs under the start-up advisory lock,
 * so instances starting together cannot create two of either.
 */
export async function bootstrapSystemTenant(
  db: Db,
  deps: {
    config: Config;
    hasher: PasswordHasher;
    clock: Clock;
    logger: Logger;
    /** Where a generated password is shown (default: stderr, whatever the log level). */
    announce?: (text: string) => void;
    /**
     * The first admin's password and its hash, made ahead (while an empty embedded database
     * opens) by `prepareFirstAdminPassword`; used only when an admin is created.
     */
    prepared?: Promise<PreparedPassword>;
  },
): Promise<TenantRow> {
  const { config, hasher, clock, logger } = deps;
  const now = clock.now();
  const system = await ensureSystemTenant(db, { config, clock });

  const admin = await findActiveAdmin(db, system.id);
  if (admin) {
    if (config.bootstrapAdmin.email || config.bootstrapAdmin.password) {
      logger.warn(
        { tenant: config.systemTenantSlug },
        `BOOTSTRAP_ADMIN_EMAIL/BOOTSTRAP_ADMIN_PASSWORD are ignored: the system tenant already has an ADMIN (they only apply to the first start). To set an administrator's password now, run \`npm run admin:reset -- --email <email>\`.`,
      );
    }
    return system;
  }

  const configured = config.bootstrapAdmin;
  const ahead = await deps.prepared?.catch(() => undefined);
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
    // Made ahead, it was generated the same way (no BOOTSTRAP_ADMIN_PASSWORD then either).
    password = ahead?.password ?? generatePassword();
    generated = true;
  }
  const passwordHash = ahead?.password === password ? ahead.hash : await hasher.hash(password);

  await insertUserIfAbsent(db, {
    tenantId: system.id,
    email,
    displayName: 'System administrator',
    passwordHash,
    role: 'ADMIN',
    // The operator's own configuration names it.
    emailVerifiedAt: now,
    createdAt: now,
    updatedAt: now,
  });
  if (generated) {
    // The only way to learn it, so it goes to a human on stderr whatever LOG_LEVEL says; the
    // structured log says that it happened, never the password.
    logger.warn(
      { email, tenant: config.systemTenantSlug },
      'created the first system administrator with a generated password (printed once on stderr)',
    );
    (deps.announce ?? printToStderr)(
      framePassword({
        title: 'First system administrator created',
        tenant: config.systemTenantSlug,
        email,
        password,
        after: [
          'Sign in and change it now (changePassword), or set BOOTSTRAP_ADMIN_EMAIL and',
          'BOOTSTRAP_ADMIN_PASSWORD before the first start. Lost it? npm run admin:reset -- --email',
          `${email} sets a new one.`,
        ],
      }),
    );
  } else {
    logger.info({ email, tenant: config.systemTenantSlug }, 'created the first system administrator');
  }
  return system;
}

/** A random password well above the policy's minimum (24 characters from 18 random bytes). */
export interface PreparedPassword {
  password: string;
  hash: string;
}

/**
 * The first admin's password (BOOTSTRAP_ADMIN_PASSWORD, or a generated one) and its hash, made
 * ahead of the bootstrap: bcrypt runs on libuv's threads while a new embedded database opens
 * instead of after it. `bootstrapSystemTenant` then uses the generated password it finds here.
 */
export function prepareFirstAdminPassword(config: Config, hasher: PasswordHasher): Promise<PreparedPassword> {
  const password = config.bootstrapAdmin.password || generatePassword();
  return hasher.hash(password).then((hash) => ({ password, hash }));
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export function printToStderr(text: string): void {
  process.stderr.write(text);
}

/**
 * A block a person notices in a scrolling log, with the password on a line of its own (after
 * "generated password:", which scripts may look for).
 */
export function framePassword(shown: {
  title: string;
  tenant: string;
  email: string;
  password: string;
  after: string[];
}): string {
  const lines = [
    shown.title,
    '',
    `  tenant:             ${shown.tenant}`,
    `  email:              ${shown.email}`,
    `  generated password: ${shown.password}`,
    '',
    'This password is shown only this once.',
    ...shown.after,
  ];
  const rule = '='.repeat(Math.max(...lines.map((line) => line.length)) + 4);
  return `\n${rule}\n${lines.map((line) => (line ? `  ${line}` : '')).join('\n')}\n${rule}\n\n`;
}
