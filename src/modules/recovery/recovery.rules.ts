import { allow, isAdmin, isAuthenticated } from '../../kernel/rules.js';

/**
 * The public mutations hold their own credential (the emailed token) or reveal nothing
 * (requestPasswordReset); the services re-check the target's tenant and role.
 */
export const recoveryRules = {
  Mutation: {
    requestPasswordReset: allow,
    resetPassword: allow,
    sendVerificationEmail: isAuthenticated,
    verifyEmail: allow,
    setUserPassword: isAdmin,
    sendPasswordReset: isAdmin,
  },
  // Read where the rest of the settings are (Tenant.settings decides who may).
  TenantSettings: {
    requireEmailVerification: isAuthenticated,
    appUrl: isAuthenticated,
  },
};
