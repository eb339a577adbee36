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
export type Caller = UserCaller | ServiceCaller;

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

/**
 * A service account calling for itself (an access token from POST /oauth/token, or an API key).
 * It has no role and no session: what it may do is its scopes, in its own tenant (a system-tenant
 * account may name another tenant where a field takes one, as a system ADMIN may).
 */
export interface ServiceCaller {
  readonly kind: 'service';
  readonly serviceAccountId: string;
  readonly tenantId: string;
  readonly clientId: string;
  /** The scopes this request carries: the token's, cut to what the account holds now. */
  readonly scopes: readonly string[];
  /** The account belongs to the system tenant. */
  readonly reachesAllTenants: boolean;
  /** An access token's expiry (a WebSocket is closed then); API keys: their expiry, if any. */
  readonly tokenExpiresAt?: Date;
  /**
   * Checks the same credential again, against the account as it is now (UNAUTHENTICATED once it
   * no longer passes). Set on WebSocket connections, whose subscriptions re-check their caller
   * before every event.
   */
  readonly renew?: () => Promise<Caller>;
}

/*
 * The access rules, as plain predicates on a caller. The shield rules (rules.ts) decide each
 * field with them, and every service that acts re-checks them against the caller it was handed
 * (the `require…` functions below): the two layers cannot disagree, and a service called from
 * anywhere else (a script, a subscription, a future transport) is no way around the rule.
 */

/** The caller is a person whose role is at least `min` in their own tenant (a service has no role). */
export function hasRole(caller: Caller | null | undefined, min: Role): boolean {
  return caller?.kind === 'user' && ROLE_RANK[caller.role] >= ROLE_RANK[min];
}

/** The caller is a service holding `scope`. */
export function hasScope(caller: Caller | null | undefined, scope: string): boolean {
  return caller?.kind === 'service' && caller.scopes.includes(scope);
}

/** A system ADMIN, or a service account of the system tenant: may reach every tenant. */
export function isSystemWide(caller: Caller | null | undefined): boolean {
  if (!caller) return false;
  return caller.kind === 'user' ? caller.isSystemAdmin : caller.reachesAllTenants;
}

/** The caller may act in `tenantId`: their own tenant, or any tenant for a system ADMIN (or system service). */
export function reachesTenant(caller: Caller | null | undefined, tenantId: string): boolean {
  return caller != null && (caller.tenantId === tenantId || isSystemWide(caller));
}

/** The id recorded as the actor of what the caller does: the user's, or the service account's. */
export function actorIdOf(caller: Caller): string {
  return caller.kind === 'user' ? caller.userId : caller.serviceAccountId;
}

/**
 * The actor fields of an audit event: `actorId`, and for a service `actorType: "SERVICE"`
 * (recorded in the event's metadata).
 */
export function auditActor(caller: Caller): { actorId: string; actorType?: 'SERVICE' } {
  return caller.kind === 'user'
    ? { actorId: caller.userId }
    : { actorId: caller.serviceAccountId, actorType: 'SERVICE' };
}

/** Any signed-in caller, person or service, or UNAUTHENTICATED. */
export function requireSignedIn(caller: Caller | null | undefined): Caller {
  if (!caller) throw new UnauthenticatedError();
  return caller;
}

/**
 * A signed-in person, or UNAUTHENTICATED; a service is FORBIDDEN (what is asked is a person's
 * own: their profile, sessions, password).
 */
export function requireCaller(caller: Caller | null | undefined): UserCaller {
  if (!caller) throw new UnauthenticatedError();
  if (caller.kind !== 'user') throw new ForbiddenError();
  return caller;
}

/** A person with at least role `min`, or a service holding `scope`; else UNAUTHENTICATED / FORBIDDEN. */
export function requireRoleOrScope(caller: Caller | null | undefined, min: Role, scope: string): Caller {
  if (!caller) throw new UnauthenticatedError();
  if (!hasRole(caller, min) && !hasScope(caller, scope)) throw new ForbiddenError();
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
