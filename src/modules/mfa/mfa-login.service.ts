import type { SessionRow, TenantRow, UserRow } from '../../db/schema.js';
import type { Deps, RequestOrigin } from '../../kernel/context.js';
import { BadUserInputError, NotFoundError, UnauthenticatedError } from '../../kernel/errors.js';
import { type UnitOfWork, write } from '../../kernel/unit-of-work.js';
import { type AmrValue, completeSignIn } from '../auth/auth.queries.js';
import { type AuthResult, afterSignIn, issueTokens, lockoutEvent } from '../auth/auth.service.js';
import { newRefreshToken } from '../sessions/sessions.queries.js';
import { tenantSettings, tokenLifetimes } from '../tenants/settings.js';
import { findUserById } from '../users/users.queries.js';
import {
  acceptTotpStep,
  countFailedSecondFactor,
  endLoginChallenge,
  findOpenLoginChallenge,
  findTotp,
  recordLoginChallengeFailure,
  spendRecoveryCode,
} from './mfa.queries.js';
import { parseMfaToken } from './mfa.validation.js';
import {
  type PasskeyChallengeValue,
  startPasskeyLogin,
  startPasskeySecondFactor,
  takeCeremony,
  verifyPasskeyAssertion,
} from './passkeys.service.js';
import { hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import {
  hashMfaToken,
  MAX_SECOND_FACTOR_TRIES,
  type MfaMethodValue,
  stillAsVerified,
} from './second-step.js';
import { matchTotp } from './totp.js';

/**
 * Finishing a sign-in with a second factor (completeMfaLogin), and passkey sign-ins. The
 * challenge they finish is opened by login (second-step.ts).
 */

export type MfaLoginDeps = Pick<
  Deps,
  'db' | 'clock' | 'cache' | 'mfa' | 'config' | 'tokens' | 'metrics' | 'logger' | 'commitEffects'
>;

const secondStepEnded = () =>
  new UnauthenticatedError('This sign-in has expired or was already used: sign in again with your password.');
const factorRefused = () => new UnauthenticatedError('The second factor was not accepted.');

interface OpenSecondStep {
  challengeId: string;
  failedAttempts: number;
  user: UserRow;
  tenant: TenantRow;
}

/**
 * The open challenge an mfaToken names, with its user and tenant as they are now. A challenge
 * whose sign-in can no longer complete is ended, in `w`.
 */
async function findSecondStep(deps: MfaLoginDeps, w: UnitOfWork, mfaToken: string): Promise<OpenSecondStep> {
  const parsed = parseMfaToken(mfaToken);
  if (!parsed) throw secondStepEnded();
  const now = deps.clock.now();
  const challenge = await findOpenLoginChallenge(deps.db, parsed.tenantId, hashMfaToken(mfaToken), now);
  if (!challenge) throw secondStepEnded();
  const [user, tenant] = await Promise.all([
    findUserById(deps.db, challenge.tenantId, challenge.userId),
    deps.cache.tenant(challenge.tenantId),
  ]);
  if (!user || !tenant || user.status !== 'ACTIVE' || tenant.status !== 'ACTIVE') {
    // Suspended meanwhile: this sign-in is over, also once the account is active again.
    await endLoginChallenge(w.tx, challenge.tenantId, challenge.id, now);
    throw secondStepEnded();
  }
  // Locked meanwhile (by wrong factors here or elsewhere): the lock holds for this step too.
  if (user.lockedUntil && user.lockedUntil > now) throw secondStepEnded();
  // The password changed, or the user was suspended or given another role, since the password
  // step: what it proved is no longer the account's, so this sign-in is over for good.
  if (!stillAsVerified(challenge, user)) {
    await endLoginChallenge(w.tx, challenge.tenantId, challenge.id, now);
    throw secondStepEnded();
  }
  return { challengeId: challenge.id, failedAttempts: challenge.failedAttempts, user, tenant };
}

export interface CompleteMfaLoginInput {
  mfaToken: string;
  method: MfaMethodValue;
  code?: string | null;
  challengeId?: string | null;
  passkeyResponse?: Record<string, unknown> | null;
}

export async function completeMfaLogin(
  deps: MfaLoginDeps,
  input: CompleteMfaLoginInput,
  origin: RequestOrigin,
): Promise<AuthResult> {
  if ((input.method === 'TOTP' || input.method === 'RECOVERY_CODE') && !input.code) {
    throw BadUserInputError.field('code', 'The code is required for this method.');
  }
  if (input.method === 'PASSKEY' && (!input.challengeId || !input.passkeyResponse)) {
    throw BadUserInputError.field(
      'passkeyResponse',
      'challengeId and passkeyResponse are required for PASSKEY.',
    );
  }
  // Each statement stands on its own, as a password sign-in's do (no transaction).
  const outcome = await write(
    deps,
    async (w): Promise<{ refused: OpenSecondStep } | { signedIn: SignedIn }> => {
      const step = await findSecondStep(deps, w, input.mfaToken);
      const amr = await checkSecondFactor(deps, w, step, input);
      if (!amr) return { refused: step };
      const now = deps.clock.now();
      // Single use: of two requests finishing one challenge, one signs in.
      if (!(await endLoginChallenge(w.tx, step.tenant.id, step.challengeId, now))) throw secondStepEnded();
      return { signedIn: await openSession(deps, w, step.user, step.tenant, ['pwd', ...amr], origin) };
    },
    { transaction: false },
  );
  if ('refused' in outcome) return refuseSecondFactor(deps, outcome.refused, input.method, origin);
  return finishSignIn(deps, outcome.signedIn, origin);
}

async function checkSecondFactor(
  deps: MfaLoginDeps,
  w: UnitOfWork,
  step: OpenSecondStep,
  input: CompleteMfaLoginInput,
): Promise<AmrValue[] | undefined> {
  const { user } = step;
  const now = deps.clock.now();
  switch (input.method) {
    case 'TOTP': {
      const totp = await findTotp(deps.db, user.tenantId, user.id);
      if (!totp?.confirmedAt) return undefined;
      const secret = deps.mfa.secrets.open(user.tenantId, user.id, totp.secret);
      const matched = secret === undefined ? undefined : matchTotp(secret, input.code ?? '', now);
      if (matched === undefined) return undefined;
      // Once per time step: a code seen (or intercepted) before does not work again.
      const accepted = await acceptTotpStep(w.tx, {
        tenantId: user.tenantId,
        userId: user.id,
        step: matched,
      });
      return accepted ? ['otp', 'mfa'] : undefined;
    }
    case 'RECOVERY_CODE': {
      const normalized = normalizeRecoveryCode(input.code ?? '');
      if (!normalized) return undefined;
      const spent = await spendRecoveryCode(w.tx, {
        tenantId: user.tenantId,
        userId: user.id,
        codeHash: hashRecoveryCode(user.id, normalized),
        now,
      });
      return spent ? ['otp', 'mfa'] : undefined;
    }
    case 'PASSKEY': {
      const ceremony = await takeCeremony(deps, input.challengeId ?? '', 'mfa');
      if (!ceremony || ceremony.loginChallengeId !== step.challengeId) return undefined;
      const verified = await verifyPasskeyAssertion(
        deps,
        {
          tenantId: user.tenantId,
          userId: user.id,
          challenge: ceremony.challenge,
          response: input.passkeyResponse ?? {},
          requireUserVerification: false,
        },
        w,
      );
      return verified ? [verified.amr[0] as AmrValue, 'mfa'] : undefined;
    }
  }
}

async function refuseSecondFactor(
  deps: MfaLoginDeps,
  step: OpenSecondStep,
  method: MfaMethodValue,
  origin: RequestOrigin,
): Promise<never> {
  const now = deps.clock.now();
  const settings = tenantSettings(step.tenant);
  await write(deps, async (w) => {
    const challenge = await recordLoginChallengeFailure(w.tx, {
      tenantId: step.tenant.id,
      id: step.challengeId,
      maxAttempts: MAX_SECOND_FACTOR_TRIES,
      now,
    });
    const locked = await countFailedSecondFactor(w.tx, {
      tenantId: step.tenant.id,
      userId: step.user.id,
      maxFailedLogins: settings.maxFailedLogins,
      lockoutMinutes: settings.lockoutMinutes,
      now,
    });
    await w.audit(origin, {
      tenantId: step.tenant.id,
      actorId: null,
      action: 'auth.login.failed',
      targetType: 'user',
      targetId: step.user.id,
      metadata: {
        reason: 'bad_second_factor',
        method,
        challengeId: step.challengeId,
        challengeEnded: challenge?.ended ?? true,
      },
      at: now,
    });
    if (locked) {
      await w.audit(origin, lockoutEvent(step.tenant.id, step.user.id, settings, now));
      // lockedUntil is part of the user as MODERATORs and ADMINs see it.
      w.usersChanged(step.tenant.id, [step.user.id]);
    }
  });
  deps.metrics.loginAttempt('bad_second_factor');
  throw factorRefused();
}

/** A sign-in whose session is open: what its answer is made of. */
interface SignedIn {
  user: UserRow;
  tenant: TenantRow;
  session: SessionRow;
  refreshToken: string;
}

/**
 * Opens the session of a completed sign-in, in `w`: clears the failed count, records `amr`, and
 * audits, in one statement (see completeSignIn).
 */
async function openSession(
  deps: MfaLoginDeps,
  w: UnitOfWork,
  user: UserRow,
  tenant: TenantRow,
  amr: AmrValue[],
  origin: RequestOrigin,
): Promise<SignedIn> {
  const now = deps.clock.now();
  const lifetimeSeconds = tokenLifetimes(tenant, deps.config.jwt).refreshTokenTtlSeconds;
  const refreshToken = newRefreshToken(tenant.id);
  const signedIn = await completeSignIn(w.tx, {
    user,
    refreshTokenHash: refreshToken.hash,
    newPasswordHash: undefined,
    origin,
    now,
    expiresAt: new Date(now.getTime() + lifetimeSeconds * 1000),
    amr: [...new Set(amr)],
  });
  if (!signedIn) throw secondStepEnded();
  w.audited(signedIn.audit);
  return { user: signedIn.user, tenant, session: signedIn.session, refreshToken: refreshToken.token };
}

/** Once the session's write is announced: the sessions over the limit end, and the tokens go out. */
async function finishSignIn(
  deps: MfaLoginDeps,
  signedIn: SignedIn,
  origin: RequestOrigin,
): Promise<AuthResult> {
  deps.metrics.loginAttempt('succeeded');
  await afterSignIn(deps, signedIn.user, origin);
  return issueTokens(deps, signedIn.user, signedIn.tenant, signedIn.session, signedIn.refreshToken);
}

/**
 * Starts a passkey ceremony: a usernameless sign-in to a tenant (`tenant`), or the second step
 * of a password sign-in (`mfaToken`, which stays open until completeMfaLogin).
 */
export async function startPasskeyAuthentication(
  deps: MfaLoginDeps,
  input: { tenant?: string | null; mfaToken?: string | null },
): Promise<PasskeyChallengeValue> {
  if ((input.tenant ? 1 : 0) + (input.mfaToken ? 1 : 0) !== 1) {
    throw BadUserInputError.field(
      'tenant',
      'Give either tenant (a passkey sign-in) or mfaToken (a second step).',
    );
  }
  const { mfaToken } = input;
  if (mfaToken) {
    const step = await write(deps, (w) => findSecondStep(deps, w, mfaToken), { transaction: false });
    return startPasskeySecondFactor(deps, {
      tenantId: step.tenant.id,
      userId: step.user.id,
      loginChallengeId: step.challengeId,
    });
  }
  const tenant = await deps.cache.tenantBySlug((input.tenant ?? '').trim().toLowerCase());
  if (tenant?.status !== 'ACTIVE') throw new NotFoundError('Tenant');
  return startPasskeyLogin(deps, tenant.id);
}

const passkeyRefused = () => new UnauthenticatedError('The passkey was not accepted.');

/** A passwordless sign-in: the passkey (with user verification) is both factors. */
export async function finishPasskeyLogin(
  deps: MfaLoginDeps,
  input: { challengeId: string; response: Record<string, unknown> },
  origin: RequestOrigin,
): Promise<AuthResult> {
  const ceremony = await takeCeremony(deps, input.challengeId, 'login');
  if (!ceremony) throw passkeyRefused();
  // Each statement stands on its own, as a password sign-in's do (no transaction).
  const signedIn = await write(
    deps,
    async (w) => {
      const verified = await verifyPasskeyAssertion(
        deps,
        {
          tenantId: ceremony.tenantId,
          challenge: ceremony.challenge,
          response: input.response,
          requireUserVerification: true,
        },
        w,
      );
      if (!verified) throw passkeyRefused();
      const [user, tenant] = await Promise.all([
        findUserById(deps.db, ceremony.tenantId, verified.passkey.userId),
        deps.cache.tenant(ceremony.tenantId),
      ]);
      const now = deps.clock.now();
      if (!user || !tenant || user.status !== 'ACTIVE' || tenant.status !== 'ACTIVE') throw passkeyRefused();
      if (user.lockedUntil && user.lockedUntil > now) throw passkeyRefused();
      return openSession(deps, w, user, tenant, verified.amr, origin);
    },
    { transaction: false },
  );
  return finishSignIn(deps, signedIn, origin);
}
