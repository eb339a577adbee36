import type { PasskeyRow, UserRow } from '../../db/schema.js';
import { requireRole, type UserCaller } from '../../kernel/caller.js';
import type { Deps, RequestOrigin } from '../../kernel/context.js';
import { BadUserInputError, ConflictError, NotFoundError } from '../../kernel/errors.js';
import { write } from '../../kernel/unit-of-work.js';
import { verifyCurrentPassword } from '../auth/auth.service.js';
import { endUserSessions } from '../sessions/sessions.queries.js';
import { assertCanManage, reachableUserTenant, userNotFound } from '../users/users.access.js';
import { findUserById, lockUser } from '../users/users.queries.js';
import {
  acceptTotpStep,
  deleteAllPasskeys,
  deleteRecoveryCodes,
  deleteTotp,
  findMfaFactors,
  findTotp,
  listPasskeys,
  replaceRecoveryCodes,
  spendRecoveryCode,
  storePendingTotp,
  syncMfaEnabled,
} from './mfa.queries.js';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery-codes.js';
import { matchTotp, newTotpSecret, otpauthUri } from './totp.js';

/**
 * Enrolling and removing second factors, by the user themself (and resetUserMfa by an ADMIN).
 * Every change is one write: its audit event in its transaction, users.mfa_enabled kept in step,
 * and once committed the user invalidated everywhere and `userChanged` subscribers told.
 */

export type MfaDeps = Pick<
  Deps,
  'db' | 'clock' | 'cache' | 'hasher' | 'mfa' | 'config' | 'logger' | 'authRateLimiter' | 'commitEffects'
>;

export interface MfaStatusValue {
  totpEnabled: boolean;
  passkeys: PasskeyRow[];
  recoveryCodesRemaining: number;
}

export async function mfaStatus(deps: Pick<MfaDeps, 'db'>, caller: UserCaller): Promise<MfaStatusValue> {
  const [factors, passkeys] = await Promise.all([
    findMfaFactors(deps.db, caller.tenantId, caller.userId),
    listPasskeys(deps.db, caller.tenantId, caller.userId),
  ]);
  return {
    totpEnabled: factors.totpEnabled,
    passkeys,
    recoveryCodesRemaining: factors.recoveryCodesRemaining,
  };
}

async function currentUser(deps: Pick<MfaDeps, 'db'>, caller: UserCaller): Promise<UserRow> {
  const user = await findUserById(deps.db, caller.tenantId, caller.userId);
  if (!user) throw userNotFound();
  return user;
}

export async function startTotpEnrollment(
  deps: MfaDeps,
  caller: UserCaller,
  origin: RequestOrigin,
): Promise<{ secret: string; otpauthUri: string }> {
  const [user, tenant] = await Promise.all([currentUser(deps, caller), deps.cache.tenant(caller.tenantId)]);
  const secret = newTotpSecret();
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const stored = await storePendingTotp(w.tx, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      sealedSecret: deps.mfa.secrets.seal(caller.tenantId, caller.userId, secret),
      now,
    });
    if (!stored) {
      throw new ConflictError(
        'totp',
        'An authenticator app is already set up: disable it first to replace it.',
      );
    }
    await w.audit(origin, {
      tenantId: caller.tenantId,
      actorId: caller.userId,
      action: 'mfa.totp.enrollment_started',
      targetType: 'user',
      targetId: caller.userId,
      at: now,
    });
  });
  return { secret, otpauthUri: otpauthUri(secret, tenant?.name ?? 'Identity', user.email) };
}

const invalidCode = (field = 'code') =>
  BadUserInputError.field(field, 'The code is not valid: enter the current code from the authenticator app.');

export async function confirmTotpEnrollment(
  deps: MfaDeps,
  caller: UserCaller,
  code: string,
  origin: RequestOrigin,
): Promise<string[]> {
  const totp = await findTotp(deps.db, caller.tenantId, caller.userId);
  if (!totp) throw BadUserInputError.field('code', 'Start the set-up first (startTotpEnrollment).');
  if (totp.confirmedAt) throw new ConflictError('totp', 'The authenticator app is already set up.');
  const secret = deps.mfa.secrets.open(caller.tenantId, caller.userId, totp.secret);
  const now = deps.clock.now();
  const step = secret === undefined ? undefined : matchTotp(secret, code, now);
  if (step === undefined) throw invalidCode();
  const codes = newRecoveryCodes();
  await write(deps, async (w) => {
    const confirmed = await acceptTotpStep(w.tx, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      step,
      confirmAt: now,
    });
    if (!confirmed) throw invalidCode();
    await replaceRecoveryCodes(w.tx, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      hashes: codes.map((c) => hashRecoveryCode(caller.userId, normalizeRecoveryCode(c) as string)),
      now,
    });
    await syncMfaEnabled(w.tx, caller.tenantId, caller.userId, now);
    await w.audit(origin, {
      tenantId: caller.tenantId,
      actorId: caller.userId,
      action: 'mfa.totp.enabled',
      targetType: 'user',
      targetId: caller.userId,
      metadata: { recoveryCodes: codes.length },
      at: now,
    });
    w.usersChanged(caller.tenantId, [caller.userId]);
  });
  return codes;
}

/**
 * Proves the caller holds their second factor: a current TOTP code (accepted once per time
 * step) or an unused recovery code (spent by this). Runs on `db`, usually the transaction of the
 * change it authorizes, so a spent code comes back if that change fails.
 */
async function proveSecondFactor(
  deps: MfaDeps,
  db: Parameters<typeof acceptTotpStep>[0],
  caller: UserCaller,
  code: string,
  now: Date,
): Promise<'totp' | 'recovery_code' | undefined> {
  const recovery = normalizeRecoveryCode(code);
  if (recovery) {
    const spent = await spendRecoveryCode(db, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      codeHash: hashRecoveryCode(caller.userId, recovery),
      now,
    });
    return spent ? 'recovery_code' : undefined;
  }
  const totp = await findTotp(db, caller.tenantId, caller.userId);
  if (!totp?.confirmedAt) return undefined;
  const secret = deps.mfa.secrets.open(caller.tenantId, caller.userId, totp.secret);
  const step = secret === undefined ? undefined : matchTotp(secret, code, now);
  if (step === undefined) return undefined;
  const accepted = await acceptTotpStep(db, { tenantId: caller.tenantId, userId: caller.userId, step });
  return accepted ? 'totp' : undefined;
}

export async function disableTotp(
  deps: MfaDeps,
  caller: UserCaller,
  input: { code?: string | null; currentPassword?: string | null },
  origin: RequestOrigin,
): Promise<boolean> {
  const totp = await findTotp(deps.db, caller.tenantId, caller.userId);
  if (!totp?.confirmedAt) throw new NotFoundError('Authenticator app');
  const now = deps.clock.now();
  if (!input.code && !input.currentPassword) {
    throw BadUserInputError.field('code', 'Give a current code, a recovery code or your password.');
  }
  let passwordProven = false;
  if (!input.code && input.currentPassword) {
    // A password guess like a sign-in: the same per-IP budget and lockout count.
    await verifyCurrentPassword(deps, caller, input.currentPassword, origin);
    passwordProven = true;
  }
  await write(deps, async (w) => {
    const proof = passwordProven
      ? 'password'
      : await proveSecondFactor(deps, w.tx, caller, input.code ?? '', now);
    if (!proof) throw invalidCode();
    await deleteTotp(w.tx, caller.tenantId, caller.userId);
    const factors = await findMfaFactors(w.tx, caller.tenantId, caller.userId);
    // Recovery codes back up the other factors; with none left they go too.
    if (factors.passkeyCount === 0) await deleteRecoveryCodes(w.tx, caller.tenantId, caller.userId);
    await syncMfaEnabled(w.tx, caller.tenantId, caller.userId, now);
    await w.audit(origin, {
      tenantId: caller.tenantId,
      actorId: caller.userId,
      action: 'mfa.totp.disabled',
      targetType: 'user',
      targetId: caller.userId,
      metadata: { proof },
      at: now,
    });
    w.usersChanged(caller.tenantId, [caller.userId]);
  });
  return true;
}

export async function regenerateRecoveryCodes(
  deps: MfaDeps,
  caller: UserCaller,
  code: string,
  origin: RequestOrigin,
): Promise<string[]> {
  const now = deps.clock.now();
  const codes = newRecoveryCodes();
  await write(deps, async (w) => {
    const proof = await proveSecondFactor(deps, w.tx, caller, code, now);
    if (!proof) throw invalidCode();
    await replaceRecoveryCodes(w.tx, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      hashes: codes.map((c) => hashRecoveryCode(caller.userId, normalizeRecoveryCode(c) as string)),
      now,
    });
    await w.audit(origin, {
      tenantId: caller.tenantId,
      actorId: caller.userId,
      action: 'mfa.recovery_codes.regenerated',
      targetType: 'user',
      targetId: caller.userId,
      metadata: { proof, recoveryCodes: codes.length },
      at: now,
    });
  });
  // The remaining count is part of myMfa; nothing the User type shows changed.
  return codes;
}

/**
 * An ADMIN removes every second factor of a user (lost phone and codes) and ends all their
 * sessions (MFA_RESET): whoever held the factors must sign in again with the password alone,
 * and enrol afresh where the tenant requires it.
 */
export async function resetUserMfa(
  deps: MfaDeps,
  caller: UserCaller,
  userId: string,
  origin: RequestOrigin,
): Promise<boolean> {
  // The shield lets only ADMINs here; the service holds to that whoever calls it.
  requireRole(caller, 'ADMIN');
  const tenantId = await reachableUserTenant(deps, caller, userId);
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const target = await lockUser(w.tx, tenantId, userId);
    if (!target) throw userNotFound();
    assertCanManage(caller, target);
    const totp = await deleteTotp(w.tx, tenantId, userId);
    const passkeys = await deleteAllPasskeys(w.tx, tenantId, userId);
    const recoveryCodes = await deleteRecoveryCodes(w.tx, tenantId, userId);
    await syncMfaEnabled(w.tx, tenantId, userId, now);
    const sessions = await endUserSessions(w.tx, tenantId, userId, 'MFA_RESET', now);
    await w.audit(origin, {
      tenantId,
      actorId: caller.userId,
      action: 'mfa.reset',
      targetType: 'user',
      targetId: userId,
      metadata: { totp, passkeys, recoveryCodes, sessionsEnded: sessions.length },
      at: now,
    });
    w.sessionsEnded(sessions, 'MFA_RESET');
    w.usersChanged(tenantId, [userId]);
  });
  return true;
}
