import { Secret, TOTP } from 'otpauth';

/**
 * TOTP as RFC 6238 and every authenticator app expect it: HMAC-SHA-1, 6 digits, 30-second steps,
 * and one step of tolerance either way for clocks that drift and codes typed slowly.
 */
export const TOTP_PERIOD_SECONDS = 30;
const DIGITS = 6;
const WINDOW = 1;

/** 160 random bits, as RFC 4226 recommends for SHA-1; base32 for manual entry. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secret: string, issuer = '', label = ''): TOTP {
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secret),
  });
}

/** The otpauth:// URI an authenticator app reads from a QR code. */
export function otpauthUri(secret: string, issuer: string, accountName: string): string {
  return totp(secret, issuer, accountName).toString();
}

/** The 30-second step `at` falls in. */
export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/**
 * The time step whose code `code` is (now, or one step before or after), or undefined. The
 * caller remembers the step it accepted so the same code cannot be used twice.
 */
export function matchTotp(secret: string, code: string, at: Date): number | undefined {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return undefined;
  const delta = totp(secret).validate({ token, timestamp: at.getTime(), window: WINDOW });
  return delta === null ? undefined : totpStep(at) + delta;
}
