import type { PasswordHasher } from './hasher.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    hasher: PasswordHasher;
  }
}

export { commonPasswords, isCommonPassword } from './common-passwords.js';
export {
  type HashScheme,
  PasswordHasher,
  type PasswordHasherOptions,
  type VerifyResult,
} from './hasher.js';
export {
  assertAcceptablePassword,
  type PasswordCheck,
  passwordFieldErrors,
} from './passwords.validation.js';
export {
  checkPasswordPolicy,
  codePointLength,
  MAX_PASSWORD_LENGTH,
  normalizePassword,
  type PasswordPolicyOptions,
  type PasswordRule,
  type PasswordRuleViolation,
} from './policy.js';
export {
  estimateStrength,
  MAX_ESTIMATED_LENGTH,
  MIN_STRENGTH_SCORE,
  type StrengthEstimate,
} from './strength.js';
