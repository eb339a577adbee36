import { isCommonPassword } from './common-passwords.js';
import { estimateStrength, MIN_STRENGTH_SCORE, strengthMessage } from './strength.js';

// NIST SP 800-63B §3.1.1.2 / OWASP ASVS 5 §6.2: length, blocklists and a check against guessable
// patterns (keyboard walks, repeats, sequences, dictionary words), no composition rules. Length is
// counted in code points after NFKC so that what the user sees (and what the hasher hashes) is
// what gets counted.
export const MAX_PASSWORD_LENGTH = 256;

export type PasswordRule =
  | 'TOO_SHORT'
  | 'TOO_LONG'
  | 'NUL_CHARACTER'
  | 'COMMON'
  | 'CONTAINS_EMAIL'
  | 'GUESSABLE';

export interface PasswordRuleViolation {
  rule: PasswordRule;
  /** Safe to show to the user and to log: never contains the password. */
  message: string;
}

export interface PasswordPolicyOptions {
  minLength: number;
  email?: string;
  /** Other words the account makes easy to guess (display name, tenant slug or name). */
  userInputs?: readonly string[];
}

export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Counts code points, not UTF-16 units: an emoji is one character to the user. */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function emailLocalPart(email: string): string {
  const at = email.lastIndexOf('@');
  // Without an '@' the whole value is what the user would recognise as their name.
  return at === -1 ? email : email.slice(0, at);
}

export function checkPasswordPolicy(password: string, opts: PasswordPolicyOptions): PasswordRuleViolation[] {
  const { minLength } = opts;
  if (!Number.isInteger(minLength) || minLength < 1 || minLength > MAX_PASSWORD_LENGTH) {
    throw new RangeError(`minLength must be an integer between 1 and ${MAX_PASSWORD_LENGTH}`);
  }
  const violations: PasswordRuleViolation[] = [];
  const normalized = normalizePassword(password);
  const length = codePointLength(normalized);

  if (length < minLength) {
    violations.push({
      rule: 'TOO_SHORT',
      message: `Password must be at least ${minLength} characters long.`,
    });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    violations.push({
      rule: 'TOO_LONG',
      message: `Password must be at most ${MAX_PASSWORD_LENGTH} characters long.`,
    });
  }
  // NUL terminates strings in C-based hashers and other systems the value may reach.
  if (normalized.includes('\u0000')) {
    violations.push({
      rule: 'NUL_CHARACTER',
      message: 'Password must not contain the NUL character (U+0000).',
    });
  }
  if (isCommonPassword(normalized)) {
    violations.push({
      rule: 'COMMON',
      message: 'Password is too common; choose one that is harder to guess.',
    });
  }
  if (opts.email !== undefined) {
    const local = normalizePassword(emailLocalPart(opts.email)).toLowerCase();
    const lowered = normalized.toLowerCase();
    // Short local parts ("jo") occur by chance inside good passwords; only equality is banned then.
    const hit =
      local.length > 0 && (lowered === local || (codePointLength(local) >= 3 && lowered.includes(local)));
    if (hit) {
      violations.push({
        rule: 'CONTAINS_EMAIL',
        message: "Password must not contain the email address's name part.",
      });
    }
  }
  // The estimate is the expensive rule (milliseconds, where the others take microseconds), and its
  // advice would only repeat a broken rule above: it runs when everything else passed.
  if (violations.length === 0) {
    const estimate = estimateStrength(normalized, [
      ...(opts.email ? [opts.email] : []),
      ...(opts.userInputs ?? []),
    ]);
    if (estimate.score < MIN_STRENGTH_SCORE) {
      violations.push({ rule: 'GUESSABLE', message: strengthMessage(estimate) });
    }
  }
  return violations;
}
