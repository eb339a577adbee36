import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The token that replaced a spent refresh token, sealed with a key derived from the spent token
 * itself (HKDF-SHA-256, then AES-256-GCM). The database keeps only the spent token's hash, so the
 * sealed successor is unreadable there; whoever presents the spent token again can open it. That
 * is what the reuse grace needs: a second tab that refreshed with the same token a moment later
 * is handed the session's current token, and no plain token is ever stored.
 */
const INFO = Buffer.from('identity-api refresh-token successor v1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

function keyOf(spentToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(spentToken, 'utf8'), Buffer.alloc(0), INFO, 32));
}

export function sealSuccessor(spentToken: string, successor: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyOf(spentToken), iv);
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** The successor, or undefined when `sealed` was not sealed for this token. */
export function openSuccessor(spentToken: string, sealed: Buffer): string | undefined {
  if (sealed.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(spentToken), sealed.subarray(0, IV_BYTES));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return undefined;
  }
}
