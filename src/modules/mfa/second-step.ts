import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UserRow } from '../../db/schema.js';
import type { Deps, RequestOrigin } from '../../kernel/context.js';
import { write } from '../../kernel/unit-of-work.js';
import { findMfaFactors, insertLoginChallenge, type MfaFactors, releaseLoginAttempt } from './mfa.queries.js';

/**
 * The second step of a sign-in. A right password for an account with a second factor opens a
 * challenge instead of a session: its mfaToken is single use, lives five minutes, belongs to one
 * user, and ends after MAX_SECOND_FACTOR_TRIES wrong factors. Each wrong factor also counts as a
 * failed sign-in toward the account's lockout.
 */

export const MFA_TOKEN_TTL_MS = 5 * 60_000;
export const MAX_SECOND_FACTOR_TRIES = 3;

export type MfaMethodValue = 'TOTP' | 'RECOVERY_CODE' | 'PASSKEY';

export function methodsOf(factors: MfaFactors): MfaMethodValue[] {
  const methods: MfaMethodValue[] = [];
  if (factors.totpEnabled) methods.push('TOTP');
  if (factors.recoveryCodesRemaining > 0) methods.push('RECOVERY_CODE');
  if (factors.passkeyCount > 0) methods.push('PASSKEY');
  return methods;
}

export const hashMfaToken = (token: string) => createHash('sha256').update(token, 'utf8').digest();

type VerifiedFields = Pick<UserRow, 'passwordHash' | 'role' | 'status' | 'updatedAt'>;

/**
 * What the password step verified, as the challenge keeps it: the password hash checked, the
 * role and status the user had, and when the account last changed (`updatedAt` moves with every
 * change of the account by anyone: profile, role, status, password, factors; not with sign-in
 * attempts). completeMfaLogin compares it with the user as they are then, so a password
 * changed, a user suspended (even if active again) or given another role, or factors reset
 * between the two steps ends the sign-in.
 */
export function verifiedStateOf(user: VerifiedFields): Buffer {
  return createHash('sha256')
    .update([user.passwordHash, user.role, user.status, user.updatedAt.toISOString()].join('\u0000'), 'utf8')
    .digest();
}

/** Whether the user is still as the password step of `challenge` verified them. */
export function stillAsVerified(challenge: { verifiedState: Buffer | null }, user: VerifiedFields): boolean {
  const now = verifiedStateOf(user);
  return (
    challenge.verifiedState !== null &&
    challenge.verifiedState.length === now.length &&
    timingSafeEqual(challenge.verifiedState, now)
  );
}

/**
 * Called by login once the password is right and the user has a second factor (`factors`):
 * gives back the attempt, opens the challenge and audits it, all in one transaction (a write of
 * its own: the sign-in's statements around it each stand alone).
 */
export async function openSecondStep(
  deps: Pick<Deps, 'db' | 'commitEffects'>,
  input: {
    user: UserRow;
    factors: MfaFactors;
    unlock: boolean;
    newPasswordHash: string | undefined;
    origin: RequestOrigin;
    now: Date;
  },
): Promise<{ mfaToken: string; methods: MfaMethodValue[] }> {
  const { user, now } = input;
  const mfaToken = `${user.tenantId}.${randomBytes(32).toString('base64url')}`;
  const methods = methodsOf(input.factors);
  await write(deps, async (w) => {
    const released = await releaseLoginAttempt(w.tx, {
      tenantId: user.tenantId,
      userId: user.id,
      unlock: input.unlock,
      newPasswordHash: input.newPasswordHash,
      verifiedPasswordHash: user.passwordHash,
    });
    // The hash now stored when the upgrade took; otherwise the one the password was checked
    // against (a password changed meanwhile then never matches at the second step).
    const verifiedHash =
      input.newPasswordHash && released?.passwordHash === input.newPasswordHash
        ? input.newPasswordHash
        : user.passwordHash;
    const challenge = await insertLoginChallenge(w.tx, {
      tenantId: user.tenantId,
      userId: user.id,
      tokenHash: hashMfaToken(mfaToken),
      verifiedState: verifiedStateOf({ ...user, passwordHash: verifiedHash }),
      now,
      expiresAt: new Date(now.getTime() + MFA_TOKEN_TTL_MS),
    });
    await w.audit(input.origin, {
      tenantId: user.tenantId,
      actorId: null,
      action: 'auth.login.mfa_required',
      targetType: 'user',
      targetId: user.id,
      metadata: { challengeId: challenge.id, methods },
      at: now,
    });
  });
  return { mfaToken, methods };
}

/** The factors of a user whose row says a second factor is on: login decides with them. */
export function findFactorsForLogin(deps: Pick<Deps, 'db'>, user: UserRow): Promise<MfaFactors> {
  return findMfaFactors(deps.db, user.tenantId, user.id);
}
