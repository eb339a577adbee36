import { auditActor, requireCaller, requireRole, requireRoleOrScope } from '../../kernel/caller.js';
import type { Caller, Deps, RequestOrigin } from '../../kernel/context.js';
import { BadUserInputError, NotFoundError, RateLimitedError } from '../../kernel/errors.js';
import { write } from '../../kernel/unit-of-work.js';
import { parseLinkToken } from '../email/link-tokens.js';
import { assertAcceptablePassword } from '../passwords/index.js';
import { endUserSessions } from '../sessions/sessions.queries.js';
import { tenantSettings } from '../tenants/settings.js';
import { findTenantById } from '../tenants/tenants.queries.js';
import { assertCanManage, reachableUserTenant, userNotFound } from '../users/users.access.js';
import { findUserById, lockUser } from '../users/users.queries.js';
import { checkEmail } from '../users/users.validation.js';
import { invalidToken, queuePasswordReset, queueVerificationEmail } from './recovery.emails.js';
import {
  findUsableToken,
  findUserByEmail,
  markEmailVerified,
  setPassword,
  spendToken,
  voidUserTokens,
} from './recovery.queries.js';

export type RecoveryDeps = Pick<
  Deps,
  'db' | 'clock' | 'hasher' | 'cache' | 'mailer' | 'emailBudget' | 'background' | 'logger' | 'commitEffects'
>;

/**
 * Public. Answers true at once, whatever the tenant and email: looking the account up, and
 * writing the token and the email when it exists and is active, happen after the answer (and so
 * cannot change its time). Only a malformed email is refused, which says nothing about accounts.
 */
export function requestPasswordReset(
  deps: RecoveryDeps,
  input: { tenant: string; email: string },
  origin: RequestOrigin,
): true {
  const email = checkEmail(input.email);
  if ('error' in email) throw new BadUserInputError([email.error]);
  const slug = input.tenant.trim().toLowerCase();
  deps.background.run('password-reset-request', () => sendResetIfActive(deps, slug, email.value, origin));
  return true;
}

async function sendResetIfActive(deps: RecoveryDeps, slug: string, email: string, origin: RequestOrigin) {
  const tenant = slug.length <= 63 ? await deps.cache.tenantBySlug(slug) : undefined;
  if (tenant?.status !== 'ACTIVE') return;
  // Spent before the look-up, for existing and unknown addresses alike.
  const budget = await deps.emailBudget.take('password-reset', tenant.id, email);
  if (!budget.ok) {
    deps.logger.info(
      { event: 'email_budget_spent', kind: 'password-reset', tenantId: tenant.id },
      'password reset not sent: address budget spent',
    );
    return;
  }
  const user = await findUserByEmail(deps.db, tenant.id, email);
  if (user?.status !== 'ACTIVE') return;
  const now = deps.clock.now();
  await write(deps, async (w) => {
    await queuePasswordReset(w, deps, tenant, user, now);
    await w.audit(origin, {
      tenantId: tenant.id,
      actorId: null,
      action: 'password.reset_requested',
      targetType: 'user',
      targetId: user.id,
      at: now,
    });
  });
}

/** The token's user, provided the account and its tenant are active and the email unchanged. */
async function tokenHolder(
  deps: RecoveryDeps,
  token: string,
  purpose: 'PASSWORD_RESET' | 'EMAIL_VERIFICATION',
) {
  const parsed = parseLinkToken(token);
  if (!parsed) throw invalidToken();
  const now = deps.clock.now();
  const row = await findUsableToken(deps.db, { ...parsed, purpose, now });
  if (!row) throw invalidToken();
  const [tenant, user] = await Promise.all([
    findTenantById(deps.db, row.tenantId),
    findUserById(deps.db, row.tenantId, row.userId),
  ]);
  if (!tenant || !user || user.email.toLowerCase() !== row.email.toLowerCase()) throw invalidToken();
  return { row, tenant, user, now };
}

/**
 * Public: the token is the credential. Sets the password, clears a lockout, marks the email
 * verified (the link reached it) and ends every session with PASSWORD_RESET. The token is spent
 * only once the new password is accepted, so a too-weak password can be corrected with the same
 * link.
 */
export async function resetPassword(
  deps: RecoveryDeps,
  input: { token: string; newPassword: string },
  origin: RequestOrigin,
): Promise<boolean> {
  const { row, tenant, user, now } = await tokenHolder(deps, input.token, 'PASSWORD_RESET');
  if (tenant.status !== 'ACTIVE' || user.status !== 'ACTIVE') throw invalidToken();
  assertAcceptablePassword(input.newPassword, {
    field: 'newPassword',
    minLength: tenantSettings(tenant).passwordMinLength,
    email: user.email,
    userInputs: [user.displayName ?? '', tenant.slug, tenant.name],
  });
  const passwordHash = await deps.hasher.hash(input.newPassword);
  await write(deps, async (w) => {
    if (!(await spendToken(w.tx, row, now))) throw invalidToken();
    const updated = await setPassword(w.tx, {
      tenantId: tenant.id,
      userId: user.id,
      passwordHash,
      now,
      verifiedEmail: row.email,
    });
    if (!updated) throw invalidToken();
    await voidUserTokens(w.tx, { tenantId: tenant.id, userId: user.id, purpose: 'PASSWORD_RESET', now });
    const endedSessions = await endUserSessions(w.tx, tenant.id, user.id, 'PASSWORD_RESET', now);
    await w.audit(origin, {
      tenantId: tenant.id,
      actorId: user.id,
      action: 'password.reset',
      targetType: 'user',
      targetId: user.id,
      metadata: { endedSessions: endedSessions.length },
      at: now,
    });
    w.sessionsEnded(endedSessions, 'PASSWORD_RESET');
    // The update time, a cleared lock and the verification are visible on the user.
    w.usersChanged(tenant.id, [user.id]);
  });
  return true;
}

/** The signed-in user: emails a verification link (true at once when already verified). */
export async function sendVerificationEmail(
  deps: RecoveryDeps,
  caller: Caller,
  origin: RequestOrigin,
): Promise<boolean> {
  const person = requireCaller(caller);
  const [tenant, user] = await Promise.all([
    findTenantById(deps.db, person.tenantId),
    findUserById(deps.db, person.tenantId, person.userId),
  ]);
  if (!tenant || !user) throw new NotFoundError('User');
  if (user.emailVerifiedAt) return true;
  const budget = await deps.emailBudget.take('email-verification', tenant.id, user.email);
  if (!budget.ok) throw new RateLimitedError(budget.retryAfterSeconds);
  const now = deps.clock.now();
  await write(deps, async (w) => {
    await queueVerificationEmail(w, deps, tenant, user, now);
    await w.audit(origin, {
      tenantId: tenant.id,
      actorId: user.id,
      action: 'email.verification_sent',
      targetType: 'user',
      targetId: user.id,
      at: now,
    });
  });
  return true;
}

/** Public: the token is the credential. Marks the address the link was sent to as verified. */
export async function verifyEmail(
  deps: RecoveryDeps,
  input: { token: string },
  origin: RequestOrigin,
): Promise<boolean> {
  const { row, user, now } = await tokenHolder(deps, input.token, 'EMAIL_VERIFICATION');
  await write(deps, async (w) => {
    if (!(await spendToken(w.tx, row, now))) throw invalidToken();
    const verified = await markEmailVerified(w.tx, {
      tenantId: row.tenantId,
      userId: user.id,
      email: row.email,
      now,
    });
    if (!verified) throw invalidToken();
    await voidUserTokens(w.tx, {
      tenantId: row.tenantId,
      userId: user.id,
      purpose: 'EMAIL_VERIFICATION',
      now,
    });
    await w.audit(origin, {
      tenantId: row.tenantId,
      actorId: user.id,
      action: 'email.verified',
      targetType: 'user',
      targetId: user.id,
      at: now,
    });
    w.usersChanged(row.tenantId, [user.id]);
  });
  return true;
}

/** ADMINs: sets a user's password, clears a lockout and ends their sessions (PASSWORD_RESET). */
export async function setUserPassword(
  deps: RecoveryDeps,
  caller: Caller,
  id: string,
  input: { newPassword: string },
  origin: RequestOrigin,
): Promise<boolean> {
  requireRoleOrScope(caller, 'ADMIN', 'users:write');
  const tenantId = await reachableUserTenant(deps, caller, id);
  const [tenant, target] = await Promise.all([
    findTenantById(deps.db, tenantId),
    findUserById(deps.db, tenantId, id),
  ]);
  if (!tenant || !target) throw userNotFound();
  assertCanManage(caller, target);
  assertAcceptablePassword(input.newPassword, {
    field: 'newPassword',
    minLength: tenantSettings(tenant).passwordMinLength,
    email: target.email,
    userInputs: [target.displayName ?? '', tenant.slug, tenant.name],
  });
  const passwordHash = await deps.hasher.hash(input.newPassword);
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const locked = await lockUser(w.tx, tenantId, id);
    if (!locked) throw userNotFound();
    assertCanManage(caller, locked);
    await setPassword(w.tx, { tenantId, userId: id, passwordHash, now });
    await voidUserTokens(w.tx, { tenantId, userId: id, purpose: 'PASSWORD_RESET', now });
    const endedSessions = await endUserSessions(w.tx, tenantId, id, 'PASSWORD_RESET', now);
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'password.set',
      targetType: 'user',
      targetId: id,
      metadata: { endedSessions: endedSessions.length },
      at: now,
    });
    w.sessionsEnded(endedSessions, 'PASSWORD_RESET');
    // The update time and a cleared lock are visible on the user.
    w.usersChanged(tenantId, [id]);
  });
  return true;
}

/** ADMINs: emails the user a reset link. */
export async function sendPasswordReset(
  deps: RecoveryDeps,
  caller: Caller,
  userId: string,
  origin: RequestOrigin,
): Promise<boolean> {
  requireRole(caller, 'ADMIN');
  const tenantId = await reachableUserTenant(deps, caller, userId);
  const [tenant, user] = await Promise.all([
    findTenantById(deps.db, tenantId),
    findUserById(deps.db, tenantId, userId),
  ]);
  if (!tenant || !user) throw userNotFound();
  assertCanManage(caller, user);
  if (user.status !== 'ACTIVE' || tenant.status !== 'ACTIVE') {
    throw BadUserInputError.field(
      'userId',
      'The account is suspended: re-activate it before sending a reset link.',
    );
  }
  const budget = await deps.emailBudget.take('password-reset', tenant.id, user.email);
  if (!budget.ok) throw new RateLimitedError(budget.retryAfterSeconds);
  const now = deps.clock.now();
  await write(deps, async (w) => {
    await queuePasswordReset(w, deps, tenant, user, now);
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'password.reset_sent',
      targetType: 'user',
      targetId: userId,
      at: now,
    });
  });
  return true;
}
