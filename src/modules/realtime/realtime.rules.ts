import { and, isAdmin, isAuthenticated, tenantArgumentAllowed } from '../../kernel/rules.js';

/**
 * graphql-shield guards only the per-event resolve of a subscription, never its subscribe step:
 * who may open which stream is decided in the subscribe functions (subscriptions.ts), and again
 * before every event with the caller as they are then. These rules are the second line.
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
