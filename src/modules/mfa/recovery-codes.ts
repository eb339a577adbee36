import { createHash, randomInt } from 'node:crypto';

/**
 * Recovery codes: 10 per user, each 10 characters from an alphabet without look-alikes (about
 * 50 bits), shown once as `xxxxx-xxxxx` and stored only as SHA-256 hashes salted with the user id.
 * They are random enough that a fast hash is safe: a guess is checked online, against the
 * mfaToken's few tries and the account lockout, never offline against a slow hash.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const LENGTH = 10;

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    let code = '';
    for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    return `${code.slice(0, 5)}-${code.slice(5)}`;
  });
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function normalizeRecoveryCode(code: string): string | undefined {
  const normalized = code.toLowerCase().replace(/[\s-]+/g, '');
  return normalized.length === LENGTH && [...normalized].every((c) => ALPHABET.includes(c))
    ? normalized
    : undefined;
}

export function hashRecoveryCode(userId: string, normalized: string): Buffer {
  return createHash('sha256').update(`${userId}:${normalized}`, 'utf8').digest();
}

/** Whether `code` looks like a recovery code rather than a 6-digit TOTP code. */
export function looksLikeRecoveryCode(code: string): boolean {
  return normalizeRecoveryCode(code) !== undefined;
}
