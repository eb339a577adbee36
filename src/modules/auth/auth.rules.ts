import { allow, atLeastUser, isAuthenticated } from '../../kernel/rules.js';

export const authRules = {
  Query: {
    me: isAuthenticated,
  },
  Mutation: {
    register: allow,
    login: allow,
    refresh: allow,
    logout: isAuthenticated,
    logoutAll: isAuthenticated,
    updateMe: atLeastUser,
    changePassword: atLeastUser,
  },
  // Only ever returned to the one who just signed in.
  AuthPayload: {
    accessToken: allow,
    accessTokenExpiresAt: allow,
    refreshToken: allow,
    refreshTokenExpiresAt: allow,
    tokenType: allow,
    user: allow,
    session: allow,
  },
};
