import type { SessionRow, TenantRow, UserRow } from '../../db/schema.js';
import type { Deps, RequestOrigin } from '../../kernel/context.js';
import {
  BadUserInputError,
  EmailNotVerifiedError,
  ForbiddenError,
  InvalidCredentialsError,
  MfaRequiredError,
  NotFoundError,
  UnauthenticatedError,
} from '../../kernel/errors.js';
import { type AuditEventInput, type UnitOfWork, write } from '../../kernel/unit-of-work.js';
import { findFactorsForLogin, methodsOf, openSecondStep } from '../mfa/second-step.js';
import { assertAcceptablePassword } from '../passwords/index.js';
import { queueVerificationEmail } from '../recovery/recovery.emails.js';
import { clearLoginAttempts } from '../recovery/recovery.queries.js';
import {
  createSession,
  currentTokenAfterSpent,
  endSession,
  findLegacySessionTenant,
  findSpentRefreshToken,
  newRefreshToken,
  parseRefreshToken,
  rotateRefreshToken,
} from '../sessions/sessions.queries.js';
import { endSessionsOverLimit } from '../sessions/sessions.service.js';
import { tenantSettings, tokenLifetimes } from '../tenants/settings.js';
import { findUserById, insertUser } from '../users/users.queries.js';
import { canonicalEmail, normalizeDisplayName, normalizeEmail } from '../users/users.validation.js';
import { completeSignIn, reserveLoginAttempt, settlePasswordCheck } from './auth.queries.js';
import { KeyedSerializer } from './keyed-serializer.js';

export type AuthDeps = Pick<
  Deps,
  | 'db'
  | 'clock'
  | 'hasher'
  | 'tokens'
  | 'config'
  | 'logger'
  | 'metrics'
  | 'cache'
  | 'events'
  | 'mailer'
  | 'emailBudget'
  | 'commitEffects'
>;

export interface AuthResult {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  tokenType: 'Bearer';
  user: UserRow;
  session: SessionRow;
}

/** Why a sign-in failed: recorded in the audit trail, never told to the client. */
export type LoginFailureReason =
  | 'unknown_user'
  | 'bad_password'
  | 'bad_second_factor'
  | 'locked'
  | 'suspended'
  /** The password was right for the account as it was read, which changed before the sign-in completed. */
  | 'changed_during_sign_in';

export async function issueTokens(
  deps: Pick<AuthDeps, 'tokens' | 'config' | 'clock'>,
  user: UserRow,
  tenant: TenantRow,
  session: SessionRow,
  refreshToken: string,
): Promise<AuthResult> {
  const now = deps.clock.now().getTime();
  const { accessTokenTtlSeconds } = tokenLifetimes(tenant, deps.config.jwt);
  // An access token never outlives its session.
  const ttl = Math.max(
    1,
    Math.min(accessTokenTtlSeconds, Math.floor((session.expiresAt.getTime() - now) / 1000)),
  );
  const access = await deps.tokens.sign(
    { sub: user.id, tid: tenant.id, role: user.role, sid: session.id, amr: session.amr ?? ['pwd'] },
    ttl,
  );
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken,
    refreshTokenExpiresAt: session.expiresAt,
    tokenType: 'Bearer',
    user,
    session,
  };
}

export interface RegisterInput {
  tenant: string;
  email: string;
  password: string;
  displayName?: string | null;
}

export async function register(
  deps: AuthDeps,
  input: RegisterInput,
  origin: RequestOrigin,
): Promise<AuthResult> {
  const tenant = await deps.cache.tenantBySlug(input.tenant.trim().toLowerCase());
  if (!tenant) throw new NotFoundError('Tenant');
  const settings = tenantSettings(tenant);
  if (tenant.status !== 'ACTIVE' || !settings.allowSelfRegistration) {
    throw new ForbiddenError('This tenant does not allow self-registration.');
  }
  const email = normalizeEmail(input.email);
  const displayName = normalizeDisplayName(input.displayName);
  assertAcceptablePassword(input.password, {
    field: 'password',
    minLength: settings.passwordMinLength,
    email,
    userInputs: [displayName ?? '', tenant.slug, tenant.name],
  });
  const passwordHash = await deps.hasher.hash(input.password);
  const now = deps.clock.now();
  const { lifetimeSeconds } = {
    lifetimeSeconds: tokenLifetimes(tenant, deps.config.jwt).refreshTokenTtlSeconds,
  };
  const { user, session, refreshToken } = await write(deps, async (w) => {
    // A taken email is CONFLICT on `email` (see emailUnique), and nothing is written.
    const user = await insertUser(w.tx, {
      tenantId: tenant.id,
      email,
      displayName,
      passwordHash,
      role: settings.defaultRole,
      lastLoginAt: settings.requireEmailVerification ? null : now,
      createdAt: now,
      updatedAt: now,
    });
    if (settings.requireEmailVerification) {
      // The account exists, but signs in only once its email is verified: the link goes out now.
      await queueVerificationEmail(w, deps, tenant, user, now);
      await w.audit(origin, {
        tenantId: tenant.id,
        actorId: user.id,
        action: 'auth.register',
        targetType: 'user',
        targetId: user.id,
        metadata: { emailVerificationRequired: true },
        at: now,
      });
      return { user, session: null, refreshToken: '' };
    }
    const created = await createSession(w.tx, {
      tenantId: tenant.id,
      userId: user.id,
      origin,
      now,
      lifetimeSeconds,
    });
    await w.audit(origin, {
      tenantId: tenant.id,
      actorId: user.id,
      action: 'auth.register',
      targetType: 'user',
      targetId: user.id,
      metadata: { sessionId: created.session.id },
      at: now,
    });
    return { user, ...created };
  });
  if (!session) throw new EmailNotVerifiedError();
  return issueTokens(deps, user, tenant, session, refreshToken);
}

export interface LoginInput {
  tenant: string;
  email: string;
  password: string;
}

/**
 * Sign-ins naming one email in one tenant take turns within this process: reserve an attempt,
 * check the password, settle the count. Counting attempts before the password check is what
 * stops parallel guesses from slipping past the lockout, but it also made parallel *correct*
 * sign-ins (several tabs, a script) count as pending failures and lock the account against
 * themselves. In turn, each correct password clears the count before the next attempt is
 * reserved. Across instances the database reservation still caps attempts; there only
 * `maxFailedLogins` sign-ins of one user in flight on different instances at the same instant
 * could briefly lock the account.
 *
 * The turn is keyed by the email as typed (normalised), whether or not an account has it, and
 * the password check (a real one, or the dummy one for unknown, locked or suspended accounts)
 * happens inside it in every case: ten parallel attempts at one email take ten bcrypt times in
 * a row whether the email exists or not, so their timing cannot tell.
 */
const signInTurns = new KeyedSerializer();

type SignInOutcome =
  | { kind: 'failed'; reason: LoginFailureReason; user: UserRow | null }
  | { kind: 'second_factor'; mfaToken: string; methods: string[] }
  | { kind: 'unverified'; user: UserRow }
  | { kind: 'ok'; user: UserRow; session: SessionRow; refreshToken: string };

/**
 * A sign-in's turn: counts the attempt, checks the password and, when it is right, opens the
 * session (or the second step) — each statement on its own, on `w`.
 */
async function passwordStep(
  deps: AuthDeps,
  w: UnitOfWork,
  input: {
    tenant: TenantRow;
    settings: ReturnType<typeof tenantSettings>;
    email: string;
    password: string;
    origin: RequestOrigin;
    now: Date;
  },
): Promise<SignInOutcome> {
  const { tenant, settings, email, origin, now } = input;
  const attempt = await reserveLoginAttempt(w.tx, {
    tenantId: tenant.id,
    email,
    countAttempt: tenant.status === 'ACTIVE',
    policy: settings,
    now,
  });
  const refuse = async (reason: LoginFailureReason, user: UserRow | null): Promise<SignInOutcome> => {
    await deps.hasher.verifyDummy(input.password);
    return { kind: 'failed', reason, user };
  };
  if (!attempt) return refuse('unknown_user', null);
  const { user } = attempt;
  if (tenant.status !== 'ACTIVE' || user.status !== 'ACTIVE') return refuse('suspended', user);
  if (!attempt.allowed) return refuse('locked', user);
  const verdict = await deps.hasher.verify(input.password, user.passwordHash);
  if (!verdict.ok) {
    if (attempt.locksNow) {
      await w.audit(origin, lockoutEvent(tenant.id, user.id, settings, now));
      // lockedUntil is part of the user as MODERATORs and ADMINs see it.
      w.usersChanged(tenant.id, [user.id]);
    }
    return { kind: 'failed', reason: 'bad_password', user };
  }

  // The password is right: only now may the answer say that the email needs verifying.
  if (settings.requireEmailVerification && !user.emailVerifiedAt) {
    await clearLoginAttempts(w.tx, user);
    return { kind: 'unverified', user };
  }
  // Old hashes (another cost or scheme) are upgraded while the plain password is at hand.
  const newHash = verdict.needsRehash ? await deps.hasher.hash(input.password) : undefined;
  // Only after a right password: a wrong one never tells whether a second factor is on.
  if (user.mfaEnabled) {
    const factors = await findFactorsForLogin(deps, user);
    if (methodsOf(factors).length > 0) {
      const second = await openSecondStep(deps, {
        user,
        factors,
        unlock: attempt.locksNow,
        newPasswordHash: newHash,
        origin,
        now,
      });
      return { kind: 'second_factor', ...second };
    }
  }
  const lifetimeSeconds = tokenLifetimes(tenant, deps.config.jwt).refreshTokenTtlSeconds;
  const refreshToken = newRefreshToken(tenant.id);
  // Completes only if the account still has the hash just verified and is still ACTIVE: a
  // password change, suspension or deletion during the check wins, and the old password (or its
  // upgraded hash) is never written back over a new one.
  const signedIn = await completeSignIn(w.tx, {
    user,
    refreshTokenHash: refreshToken.hash,
    newPasswordHash: newHash,
    origin,
    now,
    expiresAt: new Date(now.getTime() + lifetimeSeconds * 1000),
  });
  if (!signedIn) return { kind: 'failed', reason: 'changed_during_sign_in', user };
  // The statement wrote its audit row itself.
  w.audited(signedIn.audit);
  return {
    kind: 'ok',
    user: signedIn.user,
    session: signedIn.session,
    refreshToken: refreshToken.token,
  };
}

/**
 * Every failure answers the same UNAUTHENTICATED, after the same amount of work (one statement,
 * and a password verify even when there is no user), so that neither the message nor the time
 * tells an attacker whether an email exists, is locked or is suspended.
 */
export async function login(deps: AuthDeps, input: LoginInput, origin: RequestOrigin): Promise<AuthResult> {
  const tenant = await deps.cache.tenantBySlug(input.tenant.trim().toLowerCase());
  const email = canonicalEmail(input.email);
  const now = deps.clock.now();
  if (!tenant || email.length > 254) {
    await deps.hasher.verifyDummy(input.password);
    return loginFailed(deps, origin, tenant, null, 'unknown_user', now);
  }
  const settings = tenantSettings(tenant);
  const turn = `${tenant.id}:${email.toLowerCase()}`;
  const step = { tenant, settings, email, password: input.password, origin, now };
  // Each statement of a sign-in stands on its own (no transaction: one round trip each).
  const outcome = await signInTurns.run(turn, () =>
    write(deps, (w) => passwordStep(deps, w, step), { transaction: false }),
  );
  if (outcome.kind === 'failed') return loginFailed(deps, origin, tenant, outcome.user, outcome.reason, now);
  if (outcome.kind === 'second_factor') {
    deps.metrics.loginAttempt('mfa_required');
    throw new MfaRequiredError(outcome.mfaToken, outcome.methods);
  }
  if (outcome.kind === 'unverified') return refuseUnverified(deps, tenant, outcome.user, origin, now);
  deps.metrics.loginAttempt('succeeded');
  await afterSignIn(deps, outcome.user, origin);
  return issueTokens(deps, outcome.user, tenant, outcome.session, outcome.refreshToken);
}

/**
 * Once a sign-in has opened its session: the user's oldest sessions beyond the limit end, and the
 * user is announced as changed (lastLoginAt, a cleared lock). In this order, so that a client sees
 * the ended sessions before the change of the user, as it always has. Also for a sign-in that
 * completed with a second factor or a passkey.
 */
export function afterSignIn(
  deps: Pick<AuthDeps, 'db' | 'clock' | 'config' | 'commitEffects'>,
  user: Pick<UserRow, 'tenantId' | 'id'>,
  origin: RequestOrigin,
): Promise<void> {
  return write(deps, async (w) => {
    await endSessionsOverLimit(
      deps,
      { tenantId: user.tenantId, userId: user.id },
      deps.config.maxSessionsPerUser,
      origin,
      w,
    );
    w.usersChanged(user.tenantId, [user.id]);
  });
}

/** `auth.lockout`: the attempt that reached the limit locked the account. */
export function lockoutEvent(
  tenantId: string,
  userId: string,
  policy: { maxFailedLogins: number; lockoutMinutes: number },
  at: Date,
): AuditEventInput {
  return {
    tenantId,
    actorId: null,
    action: 'auth.lockout',
    targetType: 'user',
    targetId: userId,
    metadata: { maxFailedLogins: policy.maxFailedLogins, lockoutMinutes: policy.lockoutMinutes },
    at,
  };
}

/**
 * Sign-in (or sign-up) with the right password to a tenant that requires a verified email: a
 * fresh verification link is emailed (within the address's budget) and EMAIL_NOT_VERIFIED answers.
 */
async function refuseUnverified(
  deps: AuthDeps,
  tenant: TenantRow,
  user: UserRow,
  origin: RequestOrigin,
  now: Date,
): Promise<never> {
  const budget = await deps.emailBudget.take('email-verification', tenant.id, user.email);
  await write(deps, async (w) => {
    if (budget.ok) await queueVerificationEmail(w, deps, tenant, user, now);
    await w.audit(origin, {
      tenantId: tenant.id,
      actorId: null,
      action: 'auth.login.email_not_verified',
      targetType: 'user',
      targetId: user.id,
      metadata: { verificationEmailSent: budget.ok },
      at: now,
    });
  });
  throw new EmailNotVerifiedError();
}

/**
 * A signed-in user's current password, asked for before a password or email change. It is a
 * password guess like any sign-in (a stolen access token must not become an unlimited oracle for
 * the password behind it), so it draws on the same budgets: one attempt of the client's per-IP
 * budget, one count towards the account's lockout (a locked account's check fails whatever the
 * password), the same turn as sign-ins of the account, and a correct password clears the count.
 * Returns the user as verified; fails with the same BAD_USER_INPUT whatever went wrong.
 */
export async function verifyCurrentPassword(
  deps: Pick<AuthDeps, 'db' | 'clock' | 'hasher' | 'cache' | 'logger' | 'commitEffects'> & {
    authRateLimiter: Deps['authRateLimiter'];
  },
  caller: { tenantId: string; userId: string },
  password: string,
  origin: RequestOrigin,
): Promise<UserRow> {
  await deps.authRateLimiter.consume(origin.ip);
  const [tenant, current] = await Promise.all([
    deps.cache.tenant(caller.tenantId),
    findUserById(deps.db, caller.tenantId, caller.userId),
  ]);
  if (!tenant || !current) throw new NotFoundError('User');
  const settings = tenantSettings(tenant);
  const now = deps.clock.now();
  const turn = `${tenant.id}:${current.email.toLowerCase()}`;
  const outcome = await signInTurns.run(turn, () =>
    // As a sign-in: each statement stands on its own.
    write(
      deps,
      async (w) => {
        const attempt = await reserveLoginAttempt(w.tx, {
          tenantId: tenant.id,
          userId: caller.userId,
          countAttempt: true,
          policy: settings,
          now,
        });
        if (attempt?.user.status !== 'ACTIVE' || !attempt.allowed) {
          await deps.hasher.verifyDummy(password);
          return { ok: false as const, reason: attempt?.allowed === false ? 'locked' : 'suspended' };
        }
        const { user } = attempt;
        const verdict = await deps.hasher.verify(password, user.passwordHash);
        if (!verdict.ok) {
          if (attempt.locksNow) {
            await w.audit(origin, lockoutEvent(tenant.id, user.id, settings, now));
            w.usersChanged(tenant.id, [user.id]);
          }
          return { ok: false as const, reason: 'bad_password' };
        }
        const settled = await settlePasswordCheck(w.tx, {
          tenantId: tenant.id,
          userId: user.id,
          verifiedPasswordHash: user.passwordHash,
        });
        if (!settled) return { ok: false as const, reason: 'changed_during_sign_in' };
        return { ok: true as const, user };
      },
      { transaction: false },
    ),
  );
  if (outcome.ok) return outcome.user;
  await write(
    deps,
    (w) =>
      w.audit(origin, {
        tenantId: tenant.id,
        actorId: caller.userId,
        action: 'auth.password_check.failed',
        targetType: 'user',
        targetId: caller.userId,
        metadata: { reason: outcome.reason },
        at: now,
      }),
    { transaction: false },
  );
  deps.logger.info(
    { event: 'password_check_failed', reason: outcome.reason, tenantId: tenant.id, userId: caller.userId },
    'current password check failed',
  );
  throw BadUserInputError.field('currentPassword', 'The current password is not correct.');
}

async function loginFailed(
  deps: AuthDeps,
  origin: RequestOrigin,
  tenant: TenantRow | undefined,
  user: UserRow | null,
  reason: LoginFailureReason,
  now: Date,
): Promise<never> {
  deps.metrics.loginAttempt(reason);
  if (tenant) {
    await write(
      deps,
      (w) =>
        w.audit(origin, {
          tenantId: tenant.id,
          actorId: null,
          action: 'auth.login.failed',
          targetType: user ? 'user' : null,
          targetId: user?.id ?? null,
          metadata: { reason },
          at: now,
        }),
      { transaction: false },
    );
  }
  deps.logger.info(
    { event: 'login_failed', reason, tenantId: tenant?.id, userId: user?.id },
    'sign-in failed',
  );
  throw new InvalidCredentialsError();
}

export type RefreshOutcome =
  | { result: AuthResult }
  | { reuse: { sessionId: string; tenantId: string; userId: string; endedNow: boolean } };

/** Rotates a refresh token; on reuse the session is already ended when this returns. */
export async function refresh(
  deps: AuthDeps,
  presented: string,
  origin: RequestOrigin,
): Promise<RefreshOutcome> {
  const token = presented.length <= 200 ? parseRefreshToken(presented) : undefined;
  if (!token) throw new UnauthenticatedError('Invalid refresh token.');
  const now = deps.clock.now();
  // The tenant travels inside the token; a token from before that is found by its hash once.
  const tenantId =
    token.kind === 'current' ? token.tenantId : await findLegacySessionTenant(deps.db, token.hash);
  if (!tenantId) throw new UnauthenticatedError('Invalid refresh token.');
  // One statement (see rotateRefreshToken): no transaction, one round trip.
  const rotation = await write(
    deps,
    (w) => rotateRefreshToken(w.tx, { token: presented, tenantId, hash: token.hash }, now, origin),
    { transaction: false },
  );
  if (rotation) {
    const { user, tenant, session, refreshToken } = rotation;
    return { result: await issueTokens(deps, user, tenant, session, refreshToken) };
  }
  // Not the current token of a usable session. Exchanged moments ago, it is a second tab or a
  // retry: it gets the session's current token. Exchanged earlier, it is reuse: its session ends.
  const graceMs = deps.config.jwt.refreshReuseGraceSeconds * 1000;
  if (graceMs > 0) {
    const spent = await findSpentRefreshToken(deps.db, tenantId, token.hash);
    if (spent && now.getTime() - spent.spentAt.getTime() <= graceMs) {
      const current = await currentTokenAfterSpent(deps.db, spent, presented, now);
      if (!current) throw new UnauthenticatedError('Invalid refresh token.');
      const { user, tenant, session, refreshToken } = current;
      return { result: await issueTokens(deps, user, tenant, session, refreshToken) };
    }
  }
  // Reuse: the session ends, and is announced once, by the request that ended it.
  const reuse = await write(deps, async (w) => {
    const spent = await findSpentRefreshToken(w.tx, tenantId, token.hash);
    if (!spent) return undefined;
    const ended = await endSession(w.tx, spent.tenantId, spent.sessionId, 'REFRESH_TOKEN_REUSE', now);
    if (ended.length > 0) {
      await w.audit(origin, {
        tenantId: spent.tenantId,
        actorId: null,
        action: 'auth.refresh.reuse_detected',
        targetType: 'session',
        targetId: spent.sessionId,
        metadata: { userId: spent.userId },
        at: now,
      });
    }
    w.sessionsEnded(ended, 'REFRESH_TOKEN_REUSE');
    return {
      sessionId: spent.sessionId,
      tenantId: spent.tenantId,
      userId: spent.userId,
      endedNow: ended.length > 0,
    };
  });
  if (!reuse) throw new UnauthenticatedError('Invalid refresh token.');
  deps.metrics.refreshTokenReuse();
  return { reuse };
}
