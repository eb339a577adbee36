import { BadUserInputError, type FieldError } from '../../kernel/errors.js';
import { checkPasswordPolicy, type PasswordPolicyOptions } from './policy.js';

/**
 * The password rules as the API reports them: every flow that sets a password (sign-up, an admin
 * creating a user or a tenant, a password change, a reset, an invitation, an admin setting one)
 * checks it here, so all of them refuse the same passwords with the same messages.
 */
export interface PasswordCheck extends PasswordPolicyOptions {
  /** The input field the messages name, e.g. `password` or `newPassword`. */
  field: string;
}

/** One BAD_USER_INPUT field error per broken rule (never the password itself); empty when it is acceptable. */
export function passwordFieldErrors(password: string, check: PasswordCheck): FieldError[] {
  const { field, ...policy } = check;
  return checkPasswordPolicy(password, policy).map((violation) => ({ field, message: violation.message }));
}

/** Throws BAD_USER_INPUT naming each broken password rule. */
export function assertAcceptablePassword(password: string, check: PasswordCheck): void {
  const errors = passwordFieldErrors(password, check);
  if (errors.length > 0) throw new BadUserInputError(errors);
}
