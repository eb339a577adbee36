import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { Db } from '../../db/client.js';
import { findPlaintextSigningKeys, storeEncryptedPrivateKey } from './keys.queries.js';

/**
 * Envelope encryption of signing keys at rest, so a database dump alone cannot mint tokens.
 * Format: `enc:v1:<base64url iv>.<base64url ciphertext + 16-byte GCM tag>`, with the kid as
 * additional authenticated data so an envelope cannot be moved onto another row.
 */

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Fixed salt and info: the derived key must be reproducible from KEY_ENCRYPTION_KEY alone,
// and the info string keeps it distinct from anything else ever derived from the same secret.
const HKDF_SALT = 'identity-api/key-encryption';
const HKDF_INFO = 'identity-api signing-key wrap v1 (AES-256-GCM)';

/** Problems with configured or stored signing keys; the message is safe to print (no key material). */
export class SigningKeyError extends Error {
  override name = 'SigningKeyError';
}

export function isEncryptedEnvelope(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export class KeyEncrypter {
  // An ES private field: invisible to JSON.stringify, util.inspect and enumeration.
  readonly #key: Buffer;

  /**
   * `purpose` is the HKDF info: each kind of secret wrapped with KEY_ENCRYPTION_KEY (signing
   * keys, TOTP secrets) gets its own derived key, so an envelope of one kind never opens as another.
   */
  constructor(keyEncryptionKey: string, purpose: string = HKDF_INFO) {
    if (!keyEncryptionKey) throw new SigningKeyError('KEY_ENCRYPTION_KEY is empty');
    this.#key = Buffer.from(hkdfSync('sha256', keyEncryptionKey, HKDF_SALT, purpose, 32));
  }

  encrypt(kid: string, plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(kid, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  decrypt(kid: string, envelope: string): string {
    if (!isEncryptedEnvelope(envelope)) {
      throw new SigningKeyError(`Signing key ${kid} is not an enc:v1 envelope`);
    }
    const [ivPart, bodyPart, ...rest] = envelope.slice(PREFIX.length).split('.');
    const iv = Buffer.from(ivPart ?? '', 'base64url');
    const body = Buffer.from(bodyPart ?? '', 'base64url');
    if (rest.length > 0 || iv.length !== IV_BYTES || body.length <= TAG_BYTES) {
      throw new SigningKeyError(`Signing key ${kid} has a malformed encrypted private key`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(kid, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch {
      // GCM reports only "unable to authenticate": a wrong key and a tampered row look the same.
      throw new SigningKeyError(
        `KEY_ENCRYPTION_KEY does not decrypt signing key ${kid} (wrong key, or the stored key was altered)`,
      );
    }
  }

  toJSON(): string {
    return '[KeyEncrypter]';
  }

  [inspect.custom](): string {
    return '[KeyEncrypter]';
  }
}

/**
 * Turns a stored private_key column into the private JWK's JSON, whichever way it was stored.
 * A plaintext row still loads when a KEY_ENCRYPTION_KEY is configured (the caller re-encrypts it);
 * an encrypted row without one cannot, and that must stop start-up rather than silently mint a new key.
 */
export function openStoredPrivateKey(
  kid: string,
  stored: string,
  encryptedFlag: boolean,
  encrypter: KeyEncrypter | undefined,
): string {
  const encrypted = encryptedFlag || isEncryptedEnvelope(stored);
  if (!encrypted) return stored;
  if (!encrypter) {
    throw new SigningKeyError(
      `Signing key ${kid} is stored encrypted but KEY_ENCRYPTION_KEY is not set: set the KEY_ENCRYPTION_KEY it was stored with`,
    );
  }
  return encrypter.decrypt(kid, stored);
}

/** Keys stored before KEY_ENCRYPTION_KEY was configured get encrypted in place. */
export async function encryptPlaintextKeys(db: Db, encrypter: KeyEncrypter): Promise<number> {
  const plain = await findPlaintextSigningKeys(db);
  let count = 0;
  for (const row of plain) {
    if (isEncryptedEnvelope(row.privateKey)) continue;
    if (await storeEncryptedPrivateKey(db, row.kid, encrypter.encrypt(row.kid, row.privateKey))) count += 1;
  }
  return count;
}
