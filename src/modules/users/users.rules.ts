import { or } from 'graphql-shield';
import { atLeastModerator, isAuthenticated, isSelf } from '../../graphql/rules.js';

export const usersRules = {
  User: {
    id: isAuthenticated,
    tenant: isAuthenticated,
    email: isAuthenticated,
    displayName: isAuthenticated,
    role: isAuthenticated,
    status: isAuthenticated,
    lockedUntil: or(isSelf, atLeastModerator),
    lastLoginAt: isAuthenticated,
    createdAt: isAuthenticated,
    updatedAt: isAuthenticated,
    sessions: or(isSelf, atLeastModerator),
  },
};
