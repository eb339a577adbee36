import {
  and,
  atLeastModerator,
  isAdmin,
  isAuthenticated,
  isSelf,
  or,
  tenantArgumentAllowed,
} from '../../kernel/rules.js';
import { userConnectionRules } from './users.types.js';

/**
 * User objects are only reachable through fields that already decided who may see them (me,
 * user, users, a session's user), so their plain fields need only a signed-in caller.
 */
export const usersRules = {
  Query: {
    user: atLeastModerator,
    usersByIds: atLeastModerator,
    users: and(
      atLeastModerator,
      tenantArgumentAllowed('usersTenantArgument', (args) => args.tenantId),
    ),
  },
  Mutation: {
    createUser: and(
      isAdmin,
      tenantArgumentAllowed(
        'createUserTenantArgument',
        (args) => (args.input as { tenantId?: unknown } | undefined)?.tenantId,
      ),
    ),
    // MODERATORs may change the status of USERs and GUESTs: the service checks the target.
    updateUser: atLeastModerator,
    deleteUser: isAdmin,
    unlockUser: atLeastModerator,
  },
  User: {
    id: isAuthenticated,
    tenant: isAuthenticated,
    email: isAuthenticated,
    displayName: isAuthenticated,
    role: isAuthenticated,
    status: isAuthenticated,
    lockedUntil: or(isSelf, atLeastModerator),
    lastLoginAt: isAuthenticated,
    mfaEnabled: or(isSelf, atLeastModerator),
    emailVerifiedAt: isAuthenticated,
    createdAt: isAuthenticated,
    updatedAt: isAuthenticated,
    sessions: or(isSelf, atLeastModerator),
  },
  ...userConnectionRules,
};
