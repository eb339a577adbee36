import {
  allow,
  and,
  atLeastModerator,
  isAdmin,
  isAuthenticated,
  tenantArgumentAllowed,
} from '../../kernel/rules.js';
import { invitationConnectionRules } from './invitations.types.js';

/** The service re-checks every role bound (MODERATORs: USER and GUEST invitations only). */
export const invitationsRules = {
  Query: {
    invitations: and(
      isAdmin,
      tenantArgumentAllowed('invitationsTenantArgument', (args) => args.tenantId),
    ),
  },
  Mutation: {
    inviteUser: and(
      atLeastModerator,
      tenantArgumentAllowed(
        'inviteUserTenantArgument',
        (args) => (args.input as { tenantId?: unknown } | undefined)?.tenantId,
      ),
    ),
    revokeInvitation: atLeastModerator,
    acceptInvitation: allow,
  },
  // Only reachable through the fields above, which decided who may see them.
  Invitation: {
    id: isAuthenticated,
    email: isAuthenticated,
    role: isAuthenticated,
    status: isAuthenticated,
    invitedBy: isAuthenticated,
    createdAt: isAuthenticated,
    expiresAt: isAuthenticated,
    acceptedAt: isAuthenticated,
  },
  ...invitationConnectionRules,
};
