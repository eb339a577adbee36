import { atLeastModerator, isAuthenticated } from '../../kernel/rules.js';

/** Sessions are only reachable through fields that already checked who may see them. */
export const sessionsRules = {
  Query: {
    mySessions: isAuthenticated,
  },
  Mutation: {
    revokeSession: isAuthenticated,
    // MODERATORs only for USERs and GUESTs: the service checks the target.
    revokeUserSessions: atLeastModerator,
  },
  Session: {
    id: isAuthenticated,
    user: isAuthenticated,
    createdAt: isAuthenticated,
    lastUsedAt: isAuthenticated,
    expiresAt: isAuthenticated,
    ipAddress: isAuthenticated,
    userAgent: isAuthenticated,
    current: isAuthenticated,
  },
};
