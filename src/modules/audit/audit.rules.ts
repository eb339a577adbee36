import { and, isAdmin, isAuthenticated, tenantArgumentAllowed } from '../../kernel/rules.js';
import { auditEventConnectionRules } from './audit.types.js';

/** Audit events are only reachable through `auditEvents`, which is for ADMINs. */
export const auditRules = {
  Query: {
    auditEvents: and(
      isAdmin,
      tenantArgumentAllowed('auditEventsTenantArgument', (args) => args.tenantId),
    ),
  },
  AuditEvent: {
    id: isAuthenticated,
    tenantId: isAuthenticated,
    actor: isAuthenticated,
    actorId: isAuthenticated,
    action: isAuthenticated,
    targetType: isAuthenticated,
    targetId: isAuthenticated,
    ipAddress: isAuthenticated,
    userAgent: isAuthenticated,
    metadata: isAuthenticated,
    createdAt: isAuthenticated,
  },
  ...auditEventConnectionRules,
};
