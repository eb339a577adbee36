import { inspect } from 'node:util';
import { KeyEncrypter } from '../keys/key-encryption.js';

/**
 * TOTP secrets at rest: wrapped with KEY_ENCRYPTION_KEY (the key that wraps the signing keys,
 * through its own derived key) as an `enc:v1:` envelope bound to the tenant and user, so a row
 * copied onto another user does not open. Without KEY_ENCRYPTION_KEY they are stored as
 * `plain:<secret>`, as signing keys then are; a row stored that way keeps working after the
 * key is configured.
 */
const PURPOSE = 'identity-api totp secret wrap v1 (AES-256-GCM)';
const PLAIN = 'plain:';

export class TotpSecretBox {
  readonly #encrypter: KeyEncrypter | undefined;

  constructor(keyEncryptionKey: string | undefined) {
    this.#encrypter = keyEncryptionKey ? new KeyEncrypter(keyEncryptionKey, PURPOSE) : undefined;
  }

  get encrypts(): boolean {
    return this.#encrypter !== undefined;
  }

  seal(tenantId: string, userId: string, secret: string): string {
    return this.#encrypter ? this.#encrypter.encrypt(`${tenantId}:${userId}`, secret) : `${PLAIN}${secret}`;
  }

  /** Undefined when the stored value cannot be opened (wrong key, altered row). */
  open(tenantId: string, userId: string, stored: string): string | undefined {
    if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
    if (!this.#encrypter) return undefined;
    try {
      return this.#encrypter.decrypt(`${tenantId}:${userId}`, stored);
    } catch {
      return undefined;
    }
  }

  toJSON(): string {
    return '[TotpSecretBox]';
  }

  [inspect.custom](): string {
    return '[TotpSecretBox]';
  }
}
