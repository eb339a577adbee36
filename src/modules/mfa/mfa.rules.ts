import { allow, isAdmin, isAuthenticated } from '../../kernel/rules.js';

export const mfaRules = {
  Query: {
    myMfa: isAuthenticated,
  },
  Mutation: {
    completeMfaLogin: allow,
    startPasskeyAuthentication: allow,
    finishPasskeyLogin: allow,
    startTotpEnrollment: isAuthenticated,
    confirmTotpEnrollment: isAuthenticated,
    disableTotp: isAuthenticated,
    regenerateRecoveryCodes: isAuthenticated,
    startPasskeyRegistration: isAuthenticated,
    finishPasskeyRegistration: isAuthenticated,
    deletePasskey: isAuthenticated,
    // The service checks the target is reachable and not above the caller.
    resetUserMfa: isAdmin,
  },
  // Only ever returned to their own user.
  TotpEnrollment: { secret: isAuthenticated, otpauthUri: isAuthenticated },
  RecoveryCodes: { codes: isAuthenticated },
  MfaStatus: {
    totpEnabled: isAuthenticated,
    passkeys: isAuthenticated,
    recoveryCodesRemaining: isAuthenticated,
  },
  Passkey: {
    id: isAuthenticated,
    name: isAuthenticated,
    createdAt: isAuthenticated,
    lastUsedAt: isAuthenticated,
  },
  // Public: a sign-in ceremony has no caller yet.
  PasskeyChallenge: { challengeId: allow, options: allow },
};

/**
 * What a session may still do while its user must first enrol a second factor
 * (MFA_ENROLLMENT_REQUIRED everywhere else): see who they are and their sessions, sign out, and
 * enrol. Public fields stay open anyway.
 */
export const AVAILABLE_DURING_MFA_ENROLLMENT = new Set([
  'Query.me',
  'Query.mySessions',
  'Query.myMfa',
  'Mutation.logout',
  'Mutation.logoutAll',
  'Mutation.startTotpEnrollment',
  'Mutation.confirmTotpEnrollment',
  'Mutation.startPasskeyRegistration',
  'Mutation.finishPasskeyRegistration',
  'Subscription.sessionEnded',
]);
