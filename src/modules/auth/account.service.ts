import type { UserRow } from '../../db/schema.js';
import { auditActor, requireRole } from '../../kernel/caller.js';
import type { Deps, RequestOrigin, UserCaller } from '../../kernel/context.js';
import { BadUserInputError, NotFoundError } from '../../kernel/errors.js';
import { write } from '../../kernel/unit-of-work.js';
import { assertAcceptablePassword } from '../passwords/index.js';
import { queueVerificationEmail } from '../recovery/recovery.emails.js';
import { endUserSessions } from '../sessions/sessions.queries.js';
import { tenantSettings } from '../tenants/settings.js';
import { findTenantById } from '../tenants/tenants.queries.js';
import { findUserById } from '../users/users.queries.js';
import { checkDisplayName, checkEmail } from '../users/users.validation.js';
import { replacePasswordHash, updateOwnProfile } from './auth.queries.js';
import { verifyCurrentPassword } from './auth.service.js';

export type AccountDeps = Pick<
  Deps,
  | 'db'
  | 'clock'
  | 'hasher'
  | 'cache'
  | 'mailer'
  | 'emailBudget'
  | 'logger'
  | 'authRateLimiter'
  | 'commitEffects'
>;

/** The caller's own row; GUESTs change nothing of their account (the same rule as the schema's). */
async function loadSelf(deps: AccountDeps, caller: UserCaller): Promise<UserRow> {
  requireRole(caller, 'USER');
  const user = await findUserById(deps.db, caller.tenantId, caller.userId);
  if (!user) throw new NotFoundError('User');
  return user;
}

const wrongCurrentPassword = () =>
  BadUserInputError.field('currentPassword', 'The current password is not correct.');

/** The hash the current password was verified against, or null when none was asked for. */
type VerifiedHash = string | null;

export interface UpdateMeInput {
  displayName?: string | null;
  email?: string | null;
  currentPassword?: string | null;
}

/** Changes the caller's own profile. Role, status and tenant are not reachable from here. */
export async function updateMe(
  deps: AccountDeps,
  caller: UserCaller,
  input: UpdateMeInput,
  origin: RequestOrigin,
): Promise<UserRow> {
  const user = await loadSelf(deps, caller);
  const changes: Partial<Pick<UserRow, 'displayName' | 'email'>> = {};
  const errors = [];
  if (input.displayName !== undefined) {
    const checked = checkDisplayName(input.displayName);
    if ('error' in checked) errors.push(checked.error);
    else if (checked.value !== user.displayName) changes.displayName = checked.value;
  }
  if (input.email !== undefined && input.email !== null) {
    const checked = checkEmail(input.email);
    if ('error' in checked) errors.push(checked.error);
    else if (checked.value !== user.email) changes.email = checked.value;
  }
  if (errors.length > 0) throw new BadUserInputError(errors);
  let verifiedHash: VerifiedHash = null;
  if (changes.email !== undefined) {
    if (!input.currentPassword) {
      throw BadUserInputError.field(
        'currentPassword',
        'The current password is required to change the email.',
      );
    }
    verifiedHash = (await verifyCurrentPassword(deps, caller, input.currentPassword, origin)).passwordHash;
  }
  if (Object.keys(changes).length === 0) return user;
  const now = deps.clock.now();
  // A new address is unverified until its own link is followed; the link goes out with the change.
  const emailChanged =
    changes.email !== undefined && changes.email.toLowerCase() !== user.email.toLowerCase();
  const tenant = emailChanged ? await findTenantById(deps.db, caller.tenantId) : undefined;
  const budget =
    tenant && changes.email
      ? await deps.emailBudget.take('email-verification', tenant.id, changes.email)
      : { ok: false as const };
  return write(deps, async (w) => {
    const row = await updateOwnProfile(w.tx, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      changes,
      emailUnverified: emailChanged,
      // The password verified for an email change must still be the account's.
      verifiedPasswordHash: verifiedHash,
      now,
    });
    if (!row) throw verifiedHash === null ? new NotFoundError('User') : wrongCurrentPassword();
    if (tenant && budget.ok) await queueVerificationEmail(w, deps, tenant, row, now);
    await w.audit(origin, {
      tenantId: caller.tenantId,
      ...auditActor(caller),
      action: 'user.updated',
      targetType: 'user',
      targetId: caller.userId,
      metadata: { fields: Object.keys(changes), self: true },
      at: now,
    });
    w.usersChanged(caller.tenantId, [caller.userId]);
    return row;
  });
}

/** Changes the caller's password and ends every other session of theirs. */
export async function changePassword(
  deps: AccountDeps,
  caller: UserCaller,
  input: { currentPassword: string; newPassword: string },
  origin: RequestOrigin,
): Promise<boolean> {
  // GUESTs change nothing of their account (the same rule as the schema's).
  requireRole(caller, 'USER');
  const tenant = await findTenantById(deps.db, caller.tenantId);
  if (!tenant) throw new NotFoundError('Tenant');
  const user = await verifyCurrentPassword(deps, caller, input.currentPassword, origin);
  assertAcceptablePassword(input.newPassword, {
    field: 'newPassword',
    minLength: tenantSettings(tenant).passwordMinLength,
    email: user.email,
    userInputs: [user.displayName ?? '', tenant.slug, tenant.name],
  });
  const passwordHash = await deps.hasher.hash(input.newPassword);
  const now = deps.clock.now();
  let verifiedHash = user.passwordHash;
  const changeOver = (expectedHash: string) =>
    write(deps, async (w) => {
      // Only over the hash the current password was verified against: of two changes racing, the
      // second finds the first's hash and fails instead of overwriting it.
      const changed = await replacePasswordHash(w.tx, {
        tenantId: caller.tenantId,
        userId: caller.userId,
        expectedHash,
        passwordHash,
        now,
      });
      if (!changed) return undefined;
      const endedSessions = await endUserSessions(
        w.tx,
        caller.tenantId,
        caller.userId,
        'PASSWORD_CHANGED',
        now,
        caller.sessionId,
      );
      await w.audit(origin, {
        tenantId: caller.tenantId,
        ...auditActor(caller),
        action: 'password.changed',
        targetType: 'user',
        targetId: caller.userId,
        metadata: { endedSessions: endedSessions.length },
        at: now,
      });
      w.sessionsEnded(endedSessions, 'PASSWORD_CHANGED');
      // updatedAt moves and a lock is cleared: both visible on the user.
      w.usersChanged(caller.tenantId, [caller.userId]);
      return endedSessions;
    });
  let ended = await changeOver(verifiedHash);
  // The hash moved since it was verified. A sign-in may have re-hashed the same password (a
  // BCRYPT_COST raise or a new pepper): then the current password still opens the new hash, and the
  // change goes ahead over it. Any other change of password makes the current one wrong.
  for (let retries = 0; ended === undefined && retries < 2; retries++) {
    const fresh = await findUserById(deps.db, caller.tenantId, caller.userId);
    if (!fresh || fresh.passwordHash === verifiedHash) break;
    if (!(await deps.hasher.verify(input.currentPassword, fresh.passwordHash)).ok) break;
    verifiedHash = fresh.passwordHash;
    ended = await changeOver(verifiedHash);
  }
  if (ended === undefined) throw wrongCurrentPassword();
  return true;
}
