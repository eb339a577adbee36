import type { Role, UserRow } from '../../db/schema.js';
import { hasScope, isSystemWide } from '../../kernel/caller.js';
import type { Caller, Deps } from '../../kernel/context.js';
import { ROLE_RANK } from '../../kernel/enums.js';
import { ForbiddenError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { findUserTenantId } from './users.queries.js';

/** The one answer for an id the caller cannot reach, whether it exists elsewhere or nowhere. */
export const userNotFound = () => new NotFoundError('User');

/**
 * The tenant whose user `id` names, as far as the caller may know: null when it is none the
 * caller can reach. Everyone but a system ADMIN (or a system service) only ever looks in their
 * own tenant, so an id from elsewhere is simply not found there (by the same tenant-filtered
 * query, in the same time, as an id that exists nowhere); system-wide callers learn where the
 * user is. Whether the user exists in the caller's own tenant is for that query to find out.
 */
export async function visibleUserTenant(
  deps: Pick<Deps, 'db'>,
  caller: Caller,
  id: string,
): Promise<string | null> {
  if (!isUuid(id)) return null;
  if (!isSystemWide(caller)) return caller.tenantId;
  return (await findUserTenantId(deps.db, id)) ?? null;
}

/** As `visibleUserTenant`, for a user that must be reachable: NOT_FOUND otherwise. */
export async function reachableUserTenant(
  deps: Pick<Deps, 'db'>,
  caller: Caller,
  id: string,
): Promise<string> {
  const tenantId = await visibleUserTenant(deps, caller, id);
  if (!tenantId) throw userNotFound();
  return tenantId;
}

/**
 * The rank a caller acts with over users: a person's role; a service holding users:write acts as
 * an ADMIN of its tenant (the scope was granted by one), any other service as nobody.
 */
function rankOf(caller: Caller): number {
  if (caller.kind === 'user') return ROLE_RANK[caller.role];
  return hasScope(caller, 'users:write') ? ROLE_RANK.ADMIN : -1;
}

/** Nobody grants a role above their own. */
export function assertCanGrant(caller: Caller, role: Role): void {
  if (ROLE_RANK[role] > rankOf(caller)) {
    throw new ForbiddenError('You cannot grant a role above your own.');
  }
}

/** Nobody changes a user whose role is above their own. */
export function assertCanManage(caller: Caller, target: Pick<UserRow, 'role'>): void {
  if (ROLE_RANK[target.role] > rankOf(caller)) {
    throw new ForbiddenError('You cannot change a user whose role is above your own.');
  }
}

/**
 * ADMINs may change anything (within assertCanGrant/assertCanManage); MODERATORs only the status
 * of USERs and GUESTs; nobody else anything.
 */
export function assertModeratorMayUpdate(
  caller: Caller,
  fields: string[],
  target?: Pick<UserRow, 'role'>,
): void {
  if (rankOf(caller) === ROLE_RANK.ADMIN) return;
  if (caller.kind !== 'user' || caller.role !== 'MODERATOR') throw new ForbiddenError();
  const message = 'MODERATORs may change only the status of USERs and GUESTs.';
  if (fields.some((field) => field !== 'status')) throw new ForbiddenError(message);
  if (target && target.role !== 'USER' && target.role !== 'GUEST') throw new ForbiddenError(message);
}

/**
 * Refuses a change that would leave the tenant without an ACTIVE ADMIN. `activeAdmins` must have
 * been read with `lockActiveAdmins` in the same transaction.
 */
export function assertKeepsAnAdmin(
  activeAdmins: string[],
  target: Pick<UserRow, 'id' | 'role' | 'status'>,
  after: Partial<Pick<UserRow, 'role' | 'status'>> | 'deleted',
): void {
  const wasActiveAdmin = target.role === 'ADMIN' && target.status === 'ACTIVE';
  if (!wasActiveAdmin) return;
  const staysActiveAdmin =
    after !== 'deleted' &&
    (after.role ?? target.role) === 'ADMIN' &&
    (after.status ?? target.status) === 'ACTIVE';
  if (staysActiveAdmin) return;
  if (activeAdmins.filter((id) => id !== target.id).length === 0) {
    throw new ForbiddenError('This is the last active ADMIN of the tenant: promote another user first.');
  }
}
