import { randomUUID } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { PasskeyRow } from '../../db/schema.js';
import type { Deps, RequestOrigin, UserCaller } from '../../kernel/context.js';
import { BadUserInputError, ConflictError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type UnitOfWork, write } from '../../kernel/unit-of-work.js';
import type { AmrValue } from '../auth/auth.queries.js';
import { tenantSettings } from '../tenants/settings.js';
import { findUserById } from '../users/users.queries.js';
import {
  countPasskeys,
  deletePasskey as deletePasskeyRow,
  deleteRecoveryCodes,
  findMfaFactors,
  findPasskeyByCredentialId,
  insertPasskey,
  listPasskeys,
  MAX_PASSKEYS_PER_USER,
  recordPasskeyUse,
  syncMfaEnabled,
} from './mfa.queries.js';
import { checkPasskeyName } from './mfa.validation.js';

/**
 * Passkeys (WebAuthn Level 3) with @simplewebauthn/server. A ceremony's challenge is kept in the
 * CeremonyStore between its start and its finish: single use, five minutes, and bound to what it
 * was started for (registering for this user, signing in to this tenant, or the second step of
 * this sign-in), so a challenge of one kind or one tenant is worth nothing for another.
 * Credentials are looked up by (tenant, credential id): a passkey registered in one tenant does
 * not sign in to another, even on the same relying party.
 */

export type PasskeyDeps = Pick<Deps, 'db' | 'clock' | 'cache' | 'mfa' | 'config' | 'commitEffects'>;

const CEREMONY_TTL_MS = 5 * 60_000;

export type Ceremony =
  | { kind: 'register'; tenantId: string; userId: string; challenge: string }
  | { kind: 'login'; tenantId: string; challenge: string }
  | { kind: 'mfa'; tenantId: string; userId: string; loginChallengeId: string; challenge: string };

export interface PasskeyChallengeValue {
  challengeId: string;
  options: Record<string, unknown>;
}

async function openCeremony(deps: PasskeyDeps, ceremony: Ceremony): Promise<string> {
  const challengeId = randomUUID();
  await deps.mfa.ceremonies.put(challengeId, ceremony, CEREMONY_TTL_MS);
  return challengeId;
}

/** The ceremony `challengeId` started, if it is still open and of this kind; it is used up. */
export async function takeCeremony<K extends Ceremony['kind']>(
  deps: PasskeyDeps,
  challengeId: string,
  kind: K,
): Promise<Extract<Ceremony, { kind: K }> | undefined> {
  if (!isUuid(challengeId)) return undefined;
  const ceremony = await deps.mfa.ceremonies.take<Ceremony>(challengeId);
  return ceremony?.kind === kind ? (ceremony as Extract<Ceremony, { kind: K }>) : undefined;
}

/**
 * Origins a ceremony of `tenantId` may come from: WEBAUTHN_ORIGINS when set; otherwise the origin
 * of PUBLIC_URL and the origin of the tenant's appUrl (its frontend), so an app on the tenant's
 * own origin uses passkeys without more configuration.
 */
export async function expectedOrigins(deps: PasskeyDeps, tenantId: string): Promise<string[]> {
  const { origins, tenantAppOrigins } = deps.config.webauthn;
  if (!tenantAppOrigins) return origins;
  const tenant = await deps.cache.tenant(tenantId);
  const appUrl = tenant ? tenantSettings(tenant).appUrl : null;
  if (!appUrl) return origins;
  const appOrigin = new URL(appUrl).origin;
  return origins.includes(appOrigin) ? origins : [...origins, appOrigin];
}

const transportsOf = (row: PasskeyRow) => row.transports as AuthenticatorTransportFuture[];

export async function startPasskeyRegistration(
  deps: PasskeyDeps,
  caller: UserCaller,
): Promise<PasskeyChallengeValue> {
  const [user, tenant, existing] = await Promise.all([
    findUserById(deps.db, caller.tenantId, caller.userId),
    deps.cache.tenant(caller.tenantId),
    listPasskeys(deps.db, caller.tenantId, caller.userId),
  ]);
  if (!user || !tenant) throw new NotFoundError('User');
  if (existing.length >= MAX_PASSKEYS_PER_USER) {
    throw BadUserInputError.field('passkeys', `At most ${MAX_PASSKEYS_PER_USER} passkeys per account.`);
  }
  const options = await generateRegistrationOptions({
    rpName: tenant.name,
    rpID: deps.config.webauthn.rpId,
    userName: user.email,
    userDisplayName: user.displayName ?? user.email,
    // The user handle is the user id: opaque, and what a usernameless sign-in hands back.
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((row) => ({ id: row.credentialId, transports: transportsOf(row) })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    timeout: CEREMONY_TTL_MS,
  });
  const challengeId = await openCeremony(deps, {
    kind: 'register',
    tenantId: caller.tenantId,
    userId: caller.userId,
    challenge: options.challenge,
  });
  return { challengeId, options: options as unknown as Record<string, unknown> };
}

const notAccepted = () =>
  BadUserInputError.field('response', 'The passkey response was not accepted: start again.');

export async function finishPasskeyRegistration(
  deps: PasskeyDeps,
  caller: UserCaller,
  input: { challengeId: string; response: Record<string, unknown>; name?: string | null },
  origin: RequestOrigin,
): Promise<PasskeyRow> {
  const name = checkPasskeyName(input.name);
  const ceremony = await takeCeremony(deps, input.challengeId, 'register');
  if (!ceremony || ceremony.tenantId !== caller.tenantId || ceremony.userId !== caller.userId) {
    throw BadUserInputError.field('challengeId', 'The challenge is unknown, used or expired: start again.');
  }
  const origins = await expectedOrigins(deps, caller.tenantId);
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response: input.response as unknown as RegistrationResponseJSON,
      expectedChallenge: ceremony.challenge,
      expectedOrigin: origins,
      expectedRPID: deps.config.webauthn.rpId,
      requireUserVerification: false,
    });
  } catch {
    throw notAccepted();
  }
  if (!verification.verified) throw notAccepted();
  const info = verification.registrationInfo;
  const now = deps.clock.now();
  return write(deps, async (w) => {
    if ((await countPasskeys(w.tx, caller.tenantId, caller.userId)) >= MAX_PASSKEYS_PER_USER) {
      throw BadUserInputError.field('passkeys', `At most ${MAX_PASSKEYS_PER_USER} passkeys per account.`);
    }
    const row = await insertPasskey(w.tx, {
      tenantId: caller.tenantId,
      userId: caller.userId,
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey),
      signCount: info.credential.counter,
      transports: info.credential.transports ?? [],
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name: name ?? `Passkey ${now.toISOString().slice(0, 10)}`,
      createdAt: now,
    });
    if (!row) throw new ConflictError('response', 'This passkey is already registered.');
    await syncMfaEnabled(w.tx, caller.tenantId, caller.userId, now);
    await w.audit(origin, {
      tenantId: caller.tenantId,
      actorId: caller.userId,
      action: 'mfa.passkey.added',
      targetType: 'user',
      targetId: caller.userId,
      metadata: { passkeyId: row.id, deviceType: row.deviceType, backedUp: row.backedUp },
      at: now,
    });
    w.usersChanged(caller.tenantId, [caller.userId]);
    return row;
  });
}

export async function deletePasskey(
  deps: PasskeyDeps,
  caller: UserCaller,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  if (!isUuid(id)) throw new NotFoundError('Passkey');
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const row = await deletePasskeyRow(w.tx, caller.tenantId, caller.userId, id);
    if (!row) throw new NotFoundError('Passkey');
    const factors = await findMfaFactors(w.tx, caller.tenantId, caller.userId);
    // Recovery codes back up the other factors; with none left they go too.
    if (!factors.totpEnabled && factors.passkeyCount === 0) {
      await deleteRecoveryCodes(w.tx, caller.tenantId, caller.userId);
    }
    await syncMfaEnabled(w.tx, caller.tenantId, caller.userId, now);
    await w.audit(origin, {
      tenantId: caller.tenantId,
      actorId: caller.userId,
      action: 'mfa.passkey.removed',
      targetType: 'user',
      targetId: caller.userId,
      metadata: { passkeyId: id },
      at: now,
    });
    w.usersChanged(caller.tenantId, [caller.userId]);
  });
  return true;
}

/** Options for a usernameless sign-in to a tenant: any discoverable passkey of the tenant will do. */
export async function startPasskeyLogin(deps: PasskeyDeps, tenantId: string): Promise<PasskeyChallengeValue> {
  const options = await generateAuthenticationOptions({
    rpID: deps.config.webauthn.rpId,
    userVerification: 'required',
    timeout: CEREMONY_TTL_MS,
  });
  const challengeId = await openCeremony(deps, { kind: 'login', tenantId, challenge: options.challenge });
  return { challengeId, options: options as unknown as Record<string, unknown> };
}

/** Options for the second step of a password sign-in: one of this user's passkeys. */
export async function startPasskeySecondFactor(
  deps: PasskeyDeps,
  login: { tenantId: string; userId: string; loginChallengeId: string },
): Promise<PasskeyChallengeValue> {
  const passkeys = await listPasskeys(deps.db, login.tenantId, login.userId);
  const options = await generateAuthenticationOptions({
    rpID: deps.config.webauthn.rpId,
    allowCredentials: passkeys.map((row) => ({ id: row.credentialId, transports: transportsOf(row) })),
    userVerification: 'preferred',
    timeout: CEREMONY_TTL_MS,
  });
  const challengeId = await openCeremony(deps, { kind: 'mfa', ...login, challenge: options.challenge });
  return { challengeId, options: options as unknown as Record<string, unknown> };
}

/**
 * Checks an assertion against the passkey it names (in this tenant, of `userId` when given),
 * and records the use: the signature counter must have moved on (a cloned authenticator shows
 * an old one), and of two concurrent uses only one passes. Undefined when anything is wrong.
 * The use is recorded in `w`, the sign-in's write.
 */
export async function verifyPasskeyAssertion(
  deps: PasskeyDeps,
  input: {
    tenantId: string;
    userId?: string;
    challenge: string;
    response: Record<string, unknown>;
    requireUserVerification: boolean;
  },
  w?: UnitOfWork,
): Promise<{ passkey: PasskeyRow; amr: AmrValue[] } | undefined> {
  const response = input.response as unknown as AuthenticationResponseJSON;
  if (typeof response?.id !== 'string' || response.id.length === 0 || response.id.length > 1024)
    return undefined;
  const passkey = await findPasskeyByCredentialId(deps.db, input.tenantId, response.id);
  if (!passkey || (input.userId !== undefined && passkey.userId !== input.userId)) return undefined;
  const userHandle = response.response?.userHandle;
  if (userHandle && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.userId)
    return undefined;
  const origins = await expectedOrigins(deps, input.tenantId);
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: input.challenge,
      expectedOrigin: origins,
      expectedRPID: deps.config.webauthn.rpId,
      credential: {
        id: passkey.credentialId,
        publicKey: new Uint8Array(passkey.publicKey),
        counter: passkey.signCount,
        transports: transportsOf(passkey),
      },
      requireUserVerification: input.requireUserVerification,
    });
  } catch {
    return undefined;
  }
  if (!verification.verified) return undefined;
  const used = await write(
    deps,
    (unit) =>
      recordPasskeyUse(unit.tx, {
        tenantId: input.tenantId,
        id: passkey.id,
        previousCount: passkey.signCount,
        newCount: verification.authenticationInfo.newCounter,
        now: deps.clock.now(),
      }),
    { within: w, transaction: false },
  );
  if (!used) return undefined;
  // A key bound to one device is "hardware"; a synced (backed-up) passkey is a software key.
  const key: AmrValue =
    verification.authenticationInfo.credentialDeviceType === 'singleDevice' ? 'hwk' : 'swk';
  return { passkey, amr: verification.authenticationInfo.userVerified ? [key, 'mfa'] : [key] };
}
