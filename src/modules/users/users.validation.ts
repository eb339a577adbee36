import { BadUserInputError, type FieldError } from '../../kernel/errors.js';
import { hasControlCharacters } from '../../kernel/text.js';

export const EMAIL_MAX_LENGTH = 254;
export const DISPLAY_NAME_MAX_LENGTH = 100;

/** Deliberately permissive (RFC 5321 addresses are hard to match exactly); `admin@localhost` is valid. */
const EMAIL =
  /^[^\s@"(),:;<>[\\\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * The one spelling of an email as typed: trimmed, and in Unicode Normalization Form C, so that
 * "é" typed as one code point or as "e" plus a combining accent is the same address (PostgreSQL
 * then compares it case-insensitively with lower(), as the unique index does). Nothing else is
 * folded: NFKC would rewrite what the person typed (full-width letters, ligatures), and
 * look-alike (confusable) addresses stay distinct accounts; see the README's security section.
 */
export function canonicalEmail(raw: string): string {
  return raw.trim().normalize('NFC');
}

/** Trims an email, puts it in NFC and checks its form; comparisons elsewhere are case-insensitive. */
export function checkEmail(raw: string, field = 'email'): { value: string } | { error: FieldError } {
  const value = canonicalEmail(raw);
  if (value.length === 0) return { error: { field, message: 'Email is required.' } };
  if (value.length > EMAIL_MAX_LENGTH) {
    return { error: { field, message: `Email must be at most ${EMAIL_MAX_LENGTH} characters.` } };
  }
  if (hasControlCharacters(value) || !EMAIL.test(value))
    return { error: { field, message: 'Email is not a valid address.' } };
  return { value };
}

export function normalizeEmail(raw: string, field = 'email'): string {
  const result = checkEmail(raw, field);
  if ('error' in result) throw new BadUserInputError([result.error]);
  return result.value;
}

/** Trims a display name; an empty one clears it. */
export function checkDisplayName(
  raw: string | null | undefined,
  field = 'displayName',
): { value: string | null } | { error: FieldError } {
  if (raw === null || raw === undefined) return { value: null };
  const value = raw.trim();
  if (value.length === 0) return { value: null };
  if ([...value].length > DISPLAY_NAME_MAX_LENGTH) {
    return {
      error: { field, message: `Display name must be at most ${DISPLAY_NAME_MAX_LENGTH} characters.` },
    };
  }
  if (hasControlCharacters(value))
    return { error: { field, message: 'Display name must not contain control characters.' } };
  return { value };
}

export function normalizeDisplayName(raw: string | null | undefined, field = 'displayName'): string | null {
  const result = checkDisplayName(raw, field);
  if ('error' in result) throw new BadUserInputError([result.error]);
  return result.value;
}
