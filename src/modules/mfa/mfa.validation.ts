import { BadUserInputError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { hasControlCharacters } from '../../kernel/text.js';

const PASSKEY_NAME_MAX_LENGTH = 100;

/** A passkey's name: trimmed, 1-100 characters, no control characters; undefined for none given. */
export function checkPasskeyName(raw: string | null | undefined): string | undefined {
  if (raw === null || raw === undefined) return undefined;
  const name = raw.trim();
  if (name.length === 0) return undefined;
  if ([...name].length > PASSKEY_NAME_MAX_LENGTH || hasControlCharacters(name)) {
    throw BadUserInputError.field(
      'name',
      `A passkey name has at most ${PASSKEY_NAME_MAX_LENGTH} characters and no control characters.`,
    );
  }
  return name;
}

/**
 * An mfaToken is `<tenant id>.<43 base64url characters>`: the tenant id routes its lookup (one
 * shard), the rest is 256 random bits of which only a hash is stored.
 */
export function parseMfaToken(token: unknown): { tenantId: string } | undefined {
  if (typeof token !== 'string' || token.length > 100) return undefined;
  const [tenantId, secret, ...rest] = token.split('.');
  if (rest.length > 0 || !isUuid(tenantId) || !/^[A-Za-z0-9_-]{43}$/.test(secret ?? '')) return undefined;
  return { tenantId };
}
