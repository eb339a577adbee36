import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { Clock } from '../../kernel/clock.js';
import { type CommitEffects, write } from '../../kernel/unit-of-work.js';
import { insertAuditEvent } from '../audit/audit.queries.js';
import type { PasswordHasher } from '../passwords/index.js';
import { endUserSessions } from '../sessions/sessions.queries.js';
import { insertUser } from '../users/users.queries.js';
import { checkEmail } from '../users/users.validation.js';
import { BootstrapError, ensureSystemTenant, generatePassword } from './bootstrap.js';
import { findSystemUserByEmail, setAdminPassword } from './system-admin.queries.js';

/** Where an operator's command-line change comes from, in the audit trail. */
const FROM_COMMAND_LINE = { ip: null, userAgent: 'admin:reset (command line)' };

/**
 * A command-line write: its audit rows go into its transaction as a server's do. Nothing is
 * published once it commits: this process holds no caches and serves no subscribers.
 */
const COMMAND_LINE_EFFECTS: CommitEffects = {
  insertAudit: insertAuditEvent,
  publish: async () => {},
};

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
  return write({ db, commitEffects: COMMAND_LINE_EFFECTS }, async (w) => {
    const system = await ensureSystemTenant(w.tx, deps);
    const existing = await findSystemUserByEmail(w.tx, system.id, email);
    if (existing && existing.role !== 'ADMIN') {
      throw new BootstrapError(
        `${existing.email} is a ${existing.role} of the "${system.slug}" tenant, not an ADMIN: choose another email (a new ADMIN is created), or have an ADMIN change its role first.`,
      );
    }
    if (existing) {
      await setAdminPassword(w.tx, system.id, existing.id, passwordHash, now);
      const ended = await endUserSessions(w.tx, system.id, existing.id, 'PASSWORD_CHANGED', now);
      await w.audit(FROM_COMMAND_LINE, {
        tenantId: system.id,
        actorId: null,
        action: 'admin.password_reset',
        targetType: 'user',
        targetId: existing.id,
        metadata: { via: 'admin:reset', endedSessions: ended.length },
        at: now,
      });
      w.sessionsEnded(ended, 'PASSWORD_CHANGED');
      w.usersChanged(system.id, [existing.id]);
      return { created: false, email: existing.email, password, endedSessions: ended.length };
    }
    const admin = await insertUser(w.tx, {
      tenantId: system.id,
      email,
      displayName: 'System administrator',
      passwordHash,
      role: 'ADMIN',
      createdAt: now,
      updatedAt: now,
    });
    await w.audit(FROM_COMMAND_LINE, {
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
