export { commonPasswords, isCommonPassword } from './common-passwords.js';
export {
  type HashScheme,
  PasswordHasher,
  type PasswordHasherOptions,
  type VerifyResult,
} from './hasher.js';
export {
  checkPasswordPolicy,
  codePointLength,
  MAX_PASSWORD_LENGTH,
  normalizePassword,
  type PasswordPolicyOptions,
  type PasswordRule,
  type PasswordRuleViolation,
} from './policy.js';
