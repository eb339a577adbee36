import type { Role } from '../db/schema.js';
import { ROLE_RANK } from './enums.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';

/**
 * Who is calling, as proven by a verified access token whose session is still active. Fixed
 * when an operation starts and never replaced inside it: a sign-in in the middle of a document
 * returns its tokens but does not become the caller of the fields after it.
 *
 * A discriminated union, so that other kinds of caller (a service acting for itself, say) can
 * stand beside a user: code that needs a user narrows on `kind` and cannot mistake one for the
 * other.
 */
export type Caller = UserCaller;

/** A person signed in to a tenant, through one session. */
export interface UserCaller {
  readonly kind: 'user';
  readonly userId: string;
  readonly tenantId: string;
  /** Read from the live user row when the operation started, never from the token. */
  readonly role: Role;
  readonly sessionId: string;
  readonly tokenId: string;
  /** An ADMIN of the system tenant: may reach every tenant. */
  readonly isSystemAdmin: boolean;
  /** When the access token expires (a WebSocket is closed then). */
  readonly tokenExpiresAt?: Date;
  /**
   * The tenant requires a second factor for the caller's role and they have none yet: only the
   * enrolment operations (and me, mySessions, logout) answer; everything else is
   * MFA_ENROLLMENT_REQUIRED.
   */
  readonly mfaEnrollmentRequired?: boolean;
}

/*
 * The access rules, as plain predicates on a caller. The shield rules (rules.ts) decide each
 * field with them, and every service that acts re-checks them against the caller it was handed
 * (the `require…` functions below): the two layers cannot disagree, and a service called from
 * anywhere else (a script, a subscription, a future transport) is no way around the rule.
 */

/** The caller's role is at least `min` in their own tenant. */
export function hasRole(caller: Caller | null | undefined, min: Role): boolean {
  return caller != null && ROLE_RANK[caller.role] >= ROLE_RANK[min];
}

/** The caller may act in `tenantId`: their own tenant, or any tenant for a system ADMIN. */
export function reachesTenant(caller: Caller | null | undefined, tenantId: string): boolean {
  return caller != null && (caller.tenantId === tenantId || caller.isSystemAdmin);
}

/** A signed-in caller, or UNAUTHENTICATED. */
export function requireCaller(caller: Caller | null | undefined): UserCaller {
  if (!caller) throw new UnauthenticatedError();
  return caller;
}

/** A caller with at least role `min` in their tenant, or UNAUTHENTICATED / FORBIDDEN. */
export function requireRole(caller: Caller | null | undefined, min: Role): UserCaller {
  const signedIn = requireCaller(caller);
  if (!hasRole(signedIn, min)) throw new ForbiddenError();
  return signedIn;
}

/** An ADMIN of the system tenant, or UNAUTHENTICATED / FORBIDDEN. */
export function requireSystemAdmin(caller: Caller | null | undefined): UserCaller {
  const signedIn = requireCaller(caller);
  if (!signedIn.isSystemAdmin) throw new ForbiddenError();
  return signedIn;
}

/** Refuses a tenant other than the caller's own, unless the caller is a system ADMIN. */
export function requireTenantReach(caller: Caller, tenantId: string): void {
  if (!reachesTenant(caller, tenantId)) {
    throw new ForbiddenError('Only system ADMINs may act on another tenant.');
  }
}
