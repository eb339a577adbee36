import type { TenantRow, UserRow } from '../../db/schema.js';
import type { Deps } from '../../kernel/context.js';
import { BadUserInputError } from '../../kernel/errors.js';
import type { UnitOfWork } from '../../kernel/unit-of-work.js';
import { queueEmail } from '../email/email.service.js';
import { newLinkToken } from '../email/link-tokens.js';
import { insertEmailToken } from './recovery.queries.js';

/** The emails of password resets and email verification, with their single-use tokens. */

/** How long emailed links work (the contract's lifetimes). */
export const RESET_TOKEN_TTL_SECONDS = 30 * 60;
export const VERIFICATION_TOKEN_TTL_SECONDS = 24 * 3_600;

/** The one answer for a link token that is unknown, used, expired or revoked; never echoes it. */
export const invalidToken = () =>
  BadUserInputError.field(
    'token',
    'This link is invalid, has expired or was already used. Ask for a new one.',
  );

/** Writes a reset token and its email in `w`, the write of the change that asks for it. */
export async function queuePasswordReset(
  w: UnitOfWork,
  deps: Pick<Deps, 'mailer'>,
  tenant: TenantRow,
  user: UserRow,
  now: Date,
): Promise<void> {
  const { token, hash } = newLinkToken(tenant.id);
  await insertEmailToken(w.tx, {
    tenantId: tenant.id,
    userId: user.id,
    purpose: 'PASSWORD_RESET',
    email: user.email,
    tokenHash: hash,
    createdAt: now,
    expiresAt: new Date(now.getTime() + RESET_TOKEN_TTL_SECONDS * 1000),
  });
  await queueEmail(w, deps.mailer, {
    tenant,
    kind: 'password-reset',
    to: user.email,
    token,
    expiresInSeconds: RESET_TOKEN_TTL_SECONDS,
    values: { displayName: user.displayName ?? '' },
    now,
  });
}

/** Writes a verification token for the user's current email, and its email, in `w`. */
export async function queueVerificationEmail(
  w: UnitOfWork,
  deps: Pick<Deps, 'mailer'>,
  tenant: Pick<TenantRow, 'id' | 'name' | 'settings'>,
  user: Pick<UserRow, 'id' | 'email' | 'displayName'>,
  now: Date,
): Promise<void> {
  const { token, hash } = newLinkToken(tenant.id);
  await insertEmailToken(w.tx, {
    tenantId: tenant.id,
    userId: user.id,
    purpose: 'EMAIL_VERIFICATION',
    email: user.email,
    tokenHash: hash,
    createdAt: now,
    expiresAt: new Date(now.getTime() + VERIFICATION_TOKEN_TTL_SECONDS * 1000),
  });
  await queueEmail(w, deps.mailer, {
    tenant,
    kind: 'email-verification',
    to: user.email,
    token,
    expiresInSeconds: VERIFICATION_TOKEN_TTL_SECONDS,
    values: { displayName: user.displayName ?? '' },
    now,
  });
}
