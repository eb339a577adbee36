import {
  auditActor,
  hasScope,
  isSystemWide,
  requireRoleOrScope,
  requireTenantReach,
} from '../../kernel/caller.js';
import type { Caller, Deps, RequestOrigin } from '../../kernel/context.js';
import { BadUserInputError, type FieldError, ForbiddenError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type Connection, validateFirst } from '../../kernel/pagination.js';
import { write } from '../../kernel/unit-of-work.js';
import { type AuthResult, issueTokens } from '../auth/auth.service.js';
import { queueEmail } from '../email/email.service.js';
import { newLinkToken, parseLinkToken } from '../email/link-tokens.js';
import { assertAcceptablePassword } from '../passwords/index.js';
import { invalidToken } from '../recovery/recovery.emails.js';
import { findUserByEmail } from '../recovery/recovery.queries.js';
import { createSession } from '../sessions/sessions.queries.js';
import { tenantSettings, tokenLifetimes } from '../tenants/settings.js';
import { findTenantById } from '../tenants/tenants.queries.js';
import { assertCanGrant } from '../users/users.access.js';
import { emailTaken, findUserById, insertUser } from '../users/users.queries.js';
import { checkDisplayName, checkEmail } from '../users/users.validation.js';
import type { InviteUserInput } from './invitations.inputs.js';
import {
  findInvitationById,
  findInvitationTenantId,
  findPendingInvitationByToken,
  type InvitationStatusValue,
  type InvitationView,
  insertInvitation,
  listInvitations,
  markInvitationAccepted,
  revokeInvitationRow,
  revokePendingInvitationsTo,
} from './invitations.queries.js';

export const INVITATION_TTL_SECONDS = 7 * 86_400;

export type InvitationDeps = Pick<
  Deps,
  'db' | 'clock' | 'hasher' | 'mailer' | 'tokens' | 'config' | 'commitEffects'
>;

const invitationNotFound = () => new NotFoundError('Invitation');

/** MODERATORs invite (and revoke invitations of) USERs and GUESTs; nobody a role above their own. */
function assertMayInviteAs(caller: Caller, role: InvitationView['role']): void {
  // invitations:write is granted by an ADMIN and opens inviting in its own right (the contract's
  // scope list): such a service invites as an ADMIN of its tenant would, users:write or not.
  if (caller.kind === 'service' && hasScope(caller, 'invitations:write')) return;
  assertCanGrant(caller, role);
  if (caller.kind === 'user' && caller.role === 'MODERATOR' && role !== 'USER' && role !== 'GUEST') {
    throw new ForbiddenError('MODERATORs may invite only USERs and GUESTs.');
  }
}

/** Emails an invitation to create an account in the caller's tenant (system ADMINs: any tenant). */
export async function inviteUser(
  deps: InvitationDeps,
  caller: Caller,
  input: InviteUserInput,
  origin: RequestOrigin,
): Promise<InvitationView> {
  requireRoleOrScope(caller, 'MODERATOR', 'invitations:write');
  const tenantId = input.tenantId ?? caller.tenantId;
  requireTenantReach(caller, tenantId);
  const tenant = isUuid(tenantId) ? await findTenantById(deps.db, tenantId) : undefined;
  if (!tenant) throw new NotFoundError('Tenant');
  const role = input.role ?? tenantSettings(tenant).defaultRole;
  assertMayInviteAs(caller, role);
  const errors: FieldError[] = [];
  const email = checkEmail(input.email);
  if ('error' in email) errors.push(email.error);
  const displayName = checkDisplayName(input.displayName);
  if ('error' in displayName) errors.push(displayName.error);
  if (!('value' in email) || !('value' in displayName)) throw new BadUserInputError(errors);

  const inviter =
    caller.kind === 'user' ? await findUserById(deps.db, caller.tenantId, caller.userId) : undefined;
  const now = deps.clock.now();
  return write(deps, async (w) => {
    if (await findUserByEmail(w.tx, tenantId, email.value)) throw emailTaken();
    await revokePendingInvitationsTo(w.tx, tenantId, email.value, now);
    const { token, hash } = newLinkToken(tenantId);
    const { tokenHash: _hash, ...invitation } = await insertInvitation(w.tx, {
      tenantId,
      email: email.value,
      role,
      displayName: displayName.value,
      invitedBy: caller.kind === 'user' ? caller.userId : null,
      tokenHash: hash,
      createdAt: now,
      expiresAt: new Date(now.getTime() + INVITATION_TTL_SECONDS * 1000),
    });
    // In the invitation's write: the email goes out if and only if the invitation is stored.
    await queueEmail(w, deps.mailer, {
      tenant,
      kind: 'invitation',
      to: email.value,
      token,
      expiresInSeconds: INVITATION_TTL_SECONDS,
      values: {
        displayName: displayName.value ?? '',
        role,
        inviterName: inviter?.displayName ?? inviter?.email ?? tenant.name,
      },
      now,
    });
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'invitation.created',
      targetType: 'invitation',
      targetId: invitation.id,
      metadata: { email: email.value, role },
      at: now,
    });
    return invitation;
  });
}

/** Revokes a pending invitation: true when this call revoked it, false when it was no longer pending. */
export async function revokeInvitation(
  deps: InvitationDeps,
  caller: Caller,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  requireRoleOrScope(caller, 'MODERATOR', 'invitations:write');
  if (!isUuid(id)) throw invitationNotFound();
  const tenantId = isSystemWide(caller) ? await findInvitationTenantId(deps.db, id) : caller.tenantId;
  const invitation = tenantId ? await findInvitationById(deps.db, tenantId, id) : undefined;
  if (!tenantId || !invitation) throw invitationNotFound();
  assertMayInviteAs(caller, invitation.role);
  const now = deps.clock.now();
  return write(deps, async (w) => {
    const revoked = await revokeInvitationRow(w.tx, tenantId, id, now);
    if (!revoked) return false;
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'invitation.revoked',
      targetType: 'invitation',
      targetId: id,
      metadata: { email: invitation.email, role: invitation.role },
      at: now,
    });
    return true;
  });
}

/**
 * Public: the token is the credential. Creates the account with the invitation's email (already
 * verified: the link reached it) and role, and signs it in. The invitation is spent only when the
 * account is created, so a too-weak password can be corrected with the same link.
 */
export async function acceptInvitation(
  deps: InvitationDeps,
  input: { token: string; password: string; displayName?: string | null },
  origin: RequestOrigin,
): Promise<AuthResult> {
  const parsed = parseLinkToken(input.token);
  if (!parsed) throw invalidToken();
  const now = deps.clock.now();
  const invitation = await findPendingInvitationByToken(deps.db, parsed.tenantId, parsed.hash, now);
  const tenant = invitation ? await findTenantById(deps.db, invitation.tenantId) : undefined;
  if (!invitation || !tenant || tenant.status !== 'ACTIVE') throw invalidToken();
  const displayName = checkDisplayName(input.displayName ?? invitation.displayName);
  if ('error' in displayName) throw new BadUserInputError([displayName.error]);
  assertAcceptablePassword(input.password, {
    field: 'password',
    minLength: tenantSettings(tenant).passwordMinLength,
    email: invitation.email,
    userInputs: [displayName.value ?? '', tenant.slug, tenant.name],
  });
  const passwordHash = await deps.hasher.hash(input.password);
  const lifetimeSeconds = tokenLifetimes(tenant, deps.config.jwt).refreshTokenTtlSeconds;
  const { user, session, refreshToken } = await write(deps, async (w) => {
    // The account's email is verified: the link reached it. A taken email is CONFLICT.
    const user = await insertUser(w.tx, {
      tenantId: tenant.id,
      email: invitation.email,
      displayName: displayName.value,
      passwordHash,
      role: invitation.role,
      emailVerifiedAt: now,
      lastLoginAt: now,
      createdAt: now,
      updatedAt: now,
    });
    if (!(await markInvitationAccepted(w.tx, invitation, user.id, now))) throw invalidToken();
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
      action: 'invitation.accepted',
      targetType: 'user',
      targetId: user.id,
      metadata: { invitationId: invitation.id, role: invitation.role, sessionId: created.session.id },
      at: now,
    });
    return { user, ...created };
  });
  return issueTokens(deps, user, tenant, session, refreshToken);
}

export function listTenantInvitations(
  deps: Pick<Deps, 'db' | 'clock'>,
  caller: Caller,
  tenantId: string,
  args: { first?: number | null; after?: string | null; status?: InvitationStatusValue | null },
): Promise<Connection<InvitationView>> {
  requireRoleOrScope(caller, 'ADMIN', 'invitations:write');
  requireTenantReach(caller, tenantId);
  return listInvitations(deps.db, {
    tenantId,
    first: validateFirst(args.first),
    after: args.after ?? null,
    status: args.status ?? null,
    now: deps.clock.now(),
  });
}

/** An invitation's status at `now`. */
export function invitationStatus(
  invitation: Pick<InvitationView, 'acceptedAt' | 'revokedAt' | 'expiresAt'>,
  now: Date,
): InvitationStatusValue {
  if (invitation.acceptedAt) return 'ACCEPTED';
  if (invitation.revokedAt) return 'REVOKED';
  return invitation.expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : 'PENDING';
}
