import {
  type Caller,
  hasRole,
  reachesTenant,
  requireRoleOrScope,
  requireTenantReach,
  type UserCaller,
} from '../../kernel/caller.js';
import { ForbiddenError } from '../../kernel/errors.js';
import { and, isAdmin, isAuthenticated, tenantArgumentAllowed } from '../../kernel/rules.js';

/*
 * Who may open which stream. graphql-shield never sees a subscription's subscribe step, so the
 * subscribe functions (subscriptions.ts) decide with these, and again before every event with
 * the caller as they are then. They are made of the predicates the shield rules below are made
 * of (kernel/caller.ts), so the two cannot disagree.
 */

/**
 * userChanged: oneself (any role), or as a MODERATOR or ADMIN a user of a tenant one reaches
 * (one's own; any for a system ADMIN).
 */
export function authorizeUserStream(caller: UserCaller, user: { tenantId: string; id: string }): void {
  if (user.id === caller.userId) return;
  if (!hasRole(caller, 'MODERATOR') || !reachesTenant(caller, user.tenantId)) throw new ForbiddenError();
}

/**
 * auditEventAdded: ADMINs and services holding audit:read, in their own tenant; system ADMINs and
 * system-tenant services in any.
 */
export function authorizeAuditStream(caller: Caller, tenantId: string): void {
  requireRoleOrScope(caller, 'ADMIN', 'audit:read');
  requireTenantReach(caller, tenantId);
}

/**
 * graphql-shield guards only the per-event resolve of a subscription: these rules are the second
 * line behind the decisions above.
 */
export const realtimeRules = {
  Subscription: {
    sessionEnded: isAuthenticated,
    userChanged: isAuthenticated,
    auditEventAdded: and(
      isAdmin,
      tenantArgumentAllowed('auditEventAddedTenantArgument', (args) => args.tenantId),
    ),
  },
  SessionEndedEvent: {
    sessionId: isAuthenticated,
    userId: isAuthenticated,
    reason: isAuthenticated,
    at: isAuthenticated,
  },
};
