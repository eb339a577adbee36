import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { transaction } from '../../db/transaction.js';
import type { Clock } from '../../kernel/clock.js';
import { recordAuditEvent } from '../audit/audit.service.js';
import type { PasswordHasher } from '../passwords/index.js';
import { endUserSessions } from '../sessions/sessions.queries.js';
import { checkEmail } from '../users/users.validation.js';
import { BootstrapError, ensureSystemTenant, generatePassword } from './bootstrap.js';
import { findSystemUserByEmail, insertAdmin, setAdminPassword } from './system-admin.queries.js';

/** Where an operator's command-line change comes from, in the audit trail. */
const FROM_COMMAND_LINE = { ip: null, userAgent: 'admin:reset (command line)' };

export interface AdminReset {
  created: boolean;
  email: string;
  password: string;
  endedSessions: number;
}

/**
 * `npm run admin:reset`: gives the system ADMIN with this email a new generated password (its
 * sessions end, its lock and suspension are lifted), or creates that ADMIN. One transaction with
 * its audit event. A system-tenant user with another role is left alone: promoting someone is a
 * decision for an ADMIN in the API, not a side effect of a recovery tool.
 */
export async function resetSystemAdmin(
  db: Db,
  deps: { config: Config; hasher: PasswordHasher; clock: Clock },
  rawEmail: string,
): Promise<AdminReset> {
  const checked = checkEmail(rawEmail);
  if ('error' in checked) throw new BootstrapError(`--email: ${checked.error.message}`);
  const email = checked.value;
  const password = generatePassword();
  const passwordHash = await deps.hasher.hash(password);
  const now = deps.clock.now();
  return transaction(db, async (tx) => {
    const system = await ensureSystemTenant(tx, deps);
    const existing = await findSystemUserByEmail(tx, system.id, email);
    if (existing && existing.role !== 'ADMIN') {
      throw new BootstrapError(
        `${existing.email} is a ${existing.role} of the "${system.slug}" tenant, not an ADMIN: choose another email (a new ADMIN is created), or have an ADMIN change its role first.`,
      );
    }
    if (existing) {
      await setAdminPassword(tx, system.id, existing.id, passwordHash, now);
      const ended = await endUserSessions(tx, system.id, existing.id, 'PASSWORD_CHANGED', now);
      await recordAuditEvent(tx, FROM_COMMAND_LINE, {
        tenantId: system.id,
        actorId: null,
        action: 'admin.password_reset',
        targetType: 'user',
        targetId: existing.id,
        metadata: { via: 'admin:reset', endedSessions: ended.length },
        at: now,
      });
      return { created: false, email: existing.email, password, endedSessions: ended.length };
    }
    const admin = await insertAdmin(tx, system.id, email, passwordHash, now);
    await recordAuditEvent(tx, FROM_COMMAND_LINE, {
      tenantId: system.id,
      actorId: null,
      action: 'user.created',
      targetType: 'user',
      targetId: admin.id,
      metadata: { role: 'ADMIN', via: 'admin:reset' },
      at: now,
    });
    return { created: true, email, password, endedSessions: 0 };
  });
}
