import { createHash, randomBytes } from 'node:crypto';
import { isUuid } from '../../kernel/ids.js';

/**
 * Tokens carried by emailed links (password reset, email verification, invitation):
 * `<tenant id, 22 base64url characters>.<256 random bits, 43 base64url characters>`. The tenant
 * part routes the lookup to one tenant's rows (one shard); only the SHA-256 of the random part is
 * stored, which is enough for random secrets (they are not passwords to be guessed).
 */

const SECRET_BYTES = 32;
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface LinkToken {
  token: string;
  hash: Buffer;
}

export function newLinkToken(tenantId: string): LinkToken {
  const tenant = Buffer.from(tenantId.replaceAll('-', ''), 'hex').toString('base64url');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { token: `${tenant}.${secret}`, hash: hashSecret(secret) };
}

/** The tenant and the hash to look up, or undefined for anything that is not such a token. */
export function parseLinkToken(token: string): { tenantId: string; hash: Buffer } | undefined {
  const match = TOKEN.exec(token.trim());
  if (!match) return undefined;
  const hex = Buffer.from(match[1] as string, 'base64url').toString('hex');
  const tenantId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  if (!isUuid(tenantId)) return undefined;
  return { tenantId, hash: hashSecret(match[2] as string) };
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
