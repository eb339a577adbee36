import type { Role, UserRow, UserStatus } from '../../db/schema.js';
import { auditActor, requireRoleOrScope, requireTenantReach } from '../../kernel/caller.js';
import type { Caller, Deps, RequestOrigin } from '../../kernel/context.js';
import type { OrderDirection } from '../../kernel/enums.js';
import { BadUserInputError, type FieldError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type Connection, validateFirst } from '../../kernel/pagination.js';
import { hasControlCharacters } from '../../kernel/text.js';
import { write } from '../../kernel/unit-of-work.js';
import type { UserView } from '../cache/identity-cache.js';
import { passwordFieldErrors } from '../passwords/index.js';
import { queueVerificationEmail } from '../recovery/recovery.emails.js';
import { endUserSessions } from '../sessions/sessions.queries.js';
import { tenantSettings } from '../tenants/settings.js';
import { findTenantById } from '../tenants/tenants.queries.js';
import {
  assertCanGrant,
  assertCanManage,
  assertKeepsAnAdmin,
  assertModeratorMayUpdate,
  reachableUserTenant,
  userNotFound,
} from './users.access.js';
import type { CreateUserInput, UpdateUserInput, UserOrderField } from './users.inputs.js';
import {
  clearLockout,
  deleteUserRow,
  insertUser,
  listUsers,
  lockActiveAdmins,
  lockUser,
  setUserFields,
} from './users.queries.js';
import { checkDisplayName, checkEmail, EMAIL_MAX_LENGTH } from './users.validation.js';

export type UserAdminDeps = Pick<
  Deps,
  'db' | 'clock' | 'hasher' | 'mailer' | 'emailBudget' | 'commitEffects'
>;

export interface ListUsersArgs {
  first?: number | null;
  after?: string | null;
  filter?: { search?: string | null; role?: Role | null; status?: UserStatus | null } | null;
  orderBy?: { field: UserOrderField; direction: OrderDirection } | null;
}

/** MODERATORs and ADMINs list their own tenant's users; system ADMINs any tenant's. */
export function listTenantUsers(
  deps: Pick<Deps, 'readDb'>,
  caller: Caller,
  tenantId: string,
  args: ListUsersArgs,
): Promise<Connection<UserView>> {
  requireRoleOrScope(caller, 'MODERATOR', 'users:read');
  requireTenantReach(caller, tenantId);
  const first = validateFirst(args.first);
  const search = args.filter?.search?.trim() ?? '';
  if (search.length > EMAIL_MAX_LENGTH || hasControlCharacters(search)) {
    throw BadUserInputError.field(
      'filter.search',
      `Search must be at most ${EMAIL_MAX_LENGTH} characters, without control characters.`,
    );
  }
  // An ADMIN's list may lag a moment behind writes: it may come from a read replica.
  return listUsers(deps.readDb, {
    tenantId,
    first,
    after: args.after ?? null,
    search: search || null,
    role: args.filter?.role ?? null,
    status: args.filter?.status ?? null,
    field: args.orderBy?.field ?? 'CREATED_AT',
    direction: args.orderBy?.direction ?? 'ASC',
  });
}

/** Creates a user in the caller's tenant (or, for system ADMINs, in `input.tenantId`). */
export async function createUser(
  deps: UserAdminDeps,
  caller: Caller,
  input: CreateUserInput,
  origin: RequestOrigin,
): Promise<UserRow> {
  requireRoleOrScope(caller, 'ADMIN', 'users:write');
  const tenantId = input.tenantId ?? caller.tenantId;
  requireTenantReach(caller, tenantId);
  const tenant = isUuid(tenantId) ? await findTenantById(deps.db, tenantId) : undefined;
  if (!tenant) throw new NotFoundError('Tenant');
  const settings = tenantSettings(tenant);
  const role = input.role ?? settings.defaultRole;
  assertCanGrant(caller, role);

  const errors: FieldError[] = [];
  const email = checkEmail(input.email);
  if ('error' in email) errors.push(email.error);
  const displayName = checkDisplayName(input.displayName);
  if ('error' in displayName) errors.push(displayName.error);
  errors.push(
    ...passwordFieldErrors(input.password, {
      field: 'password',
      minLength: settings.passwordMinLength,
      email: 'value' in email ? email.value : undefined,
      userInputs: ['value' in displayName ? (displayName.value ?? '') : ''],
    }),
  );
  if (errors.length > 0 || !('value' in email) || !('value' in displayName)) {
    throw new BadUserInputError(errors);
  }

  const passwordHash = await deps.hasher.hash(input.password);
  const now = deps.clock.now();
  return write(deps, async (w) => {
    const user = await insertUser(w.tx, {
      tenantId,
      email: email.value,
      displayName: displayName.value,
      passwordHash,
      role,
      // An ADMIN vouches for the address of an account they create.
      emailVerifiedAt: now,
      createdAt: now,
      updatedAt: now,
    });
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'user.created',
      targetType: 'user',
      targetId: user.id,
      metadata: { role },
      at: now,
    });
    return user;
  });
}

type UserChanges = Partial<Pick<UserRow, 'displayName' | 'email' | 'role' | 'status'>>;

/** Every field checked at once, so the client learns about all of its mistakes together. */
function validateUpdate(input: UpdateUserInput): UserChanges {
  const errors: FieldError[] = [];
  const changes: UserChanges = {};
  if (input.displayName !== undefined) {
    const checked = checkDisplayName(input.displayName);
    if ('error' in checked) errors.push(checked.error);
    else changes.displayName = checked.value;
  }
  if (input.email !== undefined) {
    const checked = checkEmail(input.email ?? '');
    if ('error' in checked) errors.push(checked.error);
    else changes.email = checked.value;
  }
  if (input.role === null) errors.push({ field: 'role', message: 'Role cannot be null; omit it instead.' });
  else if (input.role !== undefined) changes.role = input.role;
  if (input.status === null) {
    errors.push({ field: 'status', message: 'Status cannot be null; omit it instead.' });
  } else if (input.status !== undefined) changes.status = input.status;
  if (errors.length > 0) throw new BadUserInputError(errors);
  return changes;
}

/**
 * Changes another user. Suspending ends all of their sessions; a role or status change holds
 * from the user's very next request (the session guard re-reads them).
 */
export async function updateUser(
  deps: UserAdminDeps,
  caller: Caller,
  id: string,
  input: UpdateUserInput,
  origin: RequestOrigin,
): Promise<UserRow> {
  requireRoleOrScope(caller, 'MODERATOR', 'users:write');
  const requested = validateUpdate(input);
  assertModeratorMayUpdate(caller, Object.keys(requested));
  if (requested.role) assertCanGrant(caller, requested.role);
  const tenantId = await reachableUserTenant(deps, caller, id);
  const now = deps.clock.now();
  const touchesAdmins = requested.role !== undefined || requested.status !== undefined;
  // A new address is unverified until its own link is followed (as with updateMe); the link goes
  // out with the change, within the address's budget.
  const tenant = requested.email !== undefined ? await findTenantById(deps.db, tenantId) : undefined;
  const budget =
    tenant && requested.email !== undefined
      ? await deps.emailBudget.take('email-verification', tenant.id, requested.email)
      : { ok: false as const };

  return write(deps, async (w) => {
    // Admins first, then the target: the same order in every transaction, so no deadlock.
    const admins = touchesAdmins ? await lockActiveAdmins(w.tx, tenantId) : [];
    const target = await lockUser(w.tx, tenantId, id);
    if (!target) throw userNotFound();
    assertCanManage(caller, target);
    assertModeratorMayUpdate(caller, Object.keys(requested), target);
    const changes = Object.fromEntries(
      Object.entries(requested).filter(([field, value]) => target[field as keyof UserChanges] !== value),
    ) as UserChanges;
    const fields = Object.keys(changes);
    if (fields.length === 0) return target;
    assertKeepsAnAdmin(admins, target, changes);

    // Another letter case of the same address is the same mailbox: still verified.
    const emailChanged =
      changes.email !== undefined && changes.email.toLowerCase() !== target.email.toLowerCase();
    const user = await setUserFields(w.tx, tenantId, id, {
      ...changes,
      ...(emailChanged ? { emailVerifiedAt: null } : {}),
      updatedAt: now,
    });
    if (!user) throw userNotFound();
    if (emailChanged && tenant && budget.ok) await queueVerificationEmail(w, deps, tenant, user, now);
    const ended =
      changes.status === 'SUSPENDED' ? await endUserSessions(w.tx, tenantId, id, 'USER_SUSPENDED', now) : [];
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'user.updated',
      targetType: 'user',
      targetId: id,
      metadata: { fields, ...(ended.length > 0 ? { endedSessions: ended.length } : {}) },
      at: now,
    });
    w.sessionsEnded(ended, 'USER_SUSPENDED');
    // Invalidated by the id the database holds, not by the caller's spelling of it.
    w.usersChanged(tenantId, [user.id]);
    return user;
  });
}

/** Deletes a user and ends their sessions, in one transaction. */
export async function deleteUser(
  deps: UserAdminDeps,
  caller: Caller,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  requireRoleOrScope(caller, 'ADMIN', 'users:write');
  const tenantId = await reachableUserTenant(deps, caller, id);
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const admins = await lockActiveAdmins(w.tx, tenantId);
    const target = await lockUser(w.tx, tenantId, id);
    if (!target) throw userNotFound();
    assertCanManage(caller, target);
    assertKeepsAnAdmin(admins, target, 'deleted');
    // Sessions go with the user (ON DELETE CASCADE): end them first so their ids are known.
    const ended = await endUserSessions(w.tx, tenantId, id, 'USER_DELETED', now);
    await deleteUserRow(w.tx, tenantId, id);
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'user.deleted',
      targetType: 'user',
      targetId: id,
      metadata: { email: target.email, role: target.role, endedSessions: ended.length },
      at: now,
    });
    w.sessionsEnded(ended, 'USER_DELETED');
    w.usersChanged(tenantId, [target.id], { deleted: true });
  });
  return true;
}

/** Clears a lockout after too many failed sign-ins. */
export async function unlockUser(
  deps: UserAdminDeps,
  caller: Caller,
  id: string,
  origin: RequestOrigin,
): Promise<UserRow> {
  requireRoleOrScope(caller, 'MODERATOR', 'users:write');
  const tenantId = await reachableUserTenant(deps, caller, id);
  const now = deps.clock.now();
  return write(deps, async (w) => {
    const target = await lockUser(w.tx, tenantId, id);
    if (!target) throw userNotFound();
    assertCanManage(caller, target);
    const user = await clearLockout(w.tx, tenantId, id, now);
    if (!user) throw userNotFound();
    await w.audit(origin, {
      tenantId,
      ...auditActor(caller),
      action: 'user.unlocked',
      targetType: 'user',
      targetId: id,
      metadata: {
        wasLocked: target.lockedUntil !== null && target.lockedUntil > now,
        failedLoginCount: target.failedLoginCount,
      },
      at: now,
    });
    w.usersChanged(tenantId, [user.id]);
    return user;
  });
}
