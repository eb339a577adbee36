import { inspect } from 'node:util';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Db, Executor } from '../../db/client.js';
import type { SigningKeyRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import {
  importKey,
  importPinnedKey,
  type PublicJwk,
  publicJwk,
  type SigningAlgorithm,
  signingAlgorithm,
} from './jwk.js';
import {
  encryptPlaintextKeys,
  KeyEncrypter,
  openStoredPrivateKey,
  SigningKeyError,
} from './key-encryption.js';
import {
  findLiveSigningKeys,
  hasActiveSigningKey,
  inSigningKeyLock,
  insertSigningKey,
  retireActiveSigningKeys,
} from './keys.queries.js';

export type { PublicJwk, SigningAlgorithm };

/** Unknown kids trigger at most one reload per interval, so garbage tokens cannot hammer the DB. */
const MISS_RELOAD_INTERVAL_MS = 10_000;
/** Slack past the longest token lifetime for clock skew and instances that reload late. */
const RETIRED_GRACE_SECONDS = 60;

export interface ActiveSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
}

export interface VerificationKey {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

export interface SigningKeyStoreOptions {
  keyEncryptionKey?: string;
  /** A private JWK (JSON) that pins the signing key; it is never written to the database. */
  signingKeyJwk?: string;
  clock: Clock;
  maxAccessTokenTtlSeconds: number;
  /**
   * Where keys are generated and rotated (under a lock): a connection to the database itself
   * rather than through a pooler. Default: the store's own handle.
   */
  direct?: <T>(work: (db: Db) => Promise<T>) => Promise<T>;
  /** Told when a reload triggered by an unknown kid fails (the token is then simply rejected). */
  onReloadError?: (error: unknown) => void;
}

interface KnownKey extends VerificationKey {
  jwk: PublicJwk;
  retiredAt: Date | null;
}

export class SigningKeyStore {
  readonly #db: Db;
  readonly #options: SigningKeyStoreOptions;
  readonly #encrypter: KeyEncrypter | undefined;
  #pinned: { active: ActiveSigningKey; known: KnownKey } | undefined;
  #active: ActiveSigningKey | undefined;
  #known = new Map<string, KnownKey>();
  #lastMissReload = Number.NEGATIVE_INFINITY;
  #missReload: Promise<void> | undefined;

  private constructor(db: Db, options: SigningKeyStoreOptions) {
    this.#db = db;
    this.#options = options;
    this.#encrypter = options.keyEncryptionKey ? new KeyEncrypter(options.keyEncryptionKey) : undefined;
  }

  static async open(db: Db, options: SigningKeyStoreOptions): Promise<SigningKeyStore> {
    const store = new SigningKeyStore(db, options);
    if (options.signingKeyJwk) {
      const { kid, alg, privateKey, publicKey, jwk } = await importPinnedKey(options.signingKeyJwk);
      store.#pinned = {
        active: { kid, alg, privateKey },
        known: { kid, alg, key: publicKey, jwk, retiredAt: null },
      };
    }
    await store.reload();
    if (store.#encrypter) await encryptPlaintextKeys(db, store.#encrypter);
    return store;
  }

  active(): ActiveSigningKey {
    if (!this.#active) throw new Error('SigningKeyStore has no active signing key');
    return this.#active;
  }

  verificationKey(kid: string): CryptoKey | undefined {
    return this.#usable(kid)?.key;
  }

  /** Like verificationKey, but an unknown kid first reloads (rate-limited): another instance may have rotated. */
  async findVerificationKey(kid: string): Promise<VerificationKey | undefined> {
    const hit = this.#usable(kid);
    if (hit || this.#known.has(kid)) return hit;
    await this.#reloadAfterMiss();
    return this.#usable(kid);
  }

  /** The algorithms of the keys that currently verify: what a verifier should pin. */
  algorithms(): SigningAlgorithm[] {
    const algs = new Set<SigningAlgorithm>();
    for (const key of this.#known.values()) if (this.#usable(key.kid)) algs.add(key.alg);
    return [...algs];
  }

  jwks(): { keys: PublicJwk[] } {
    const activeKid = this.#active?.kid;
    const keys = [...this.#known.values()]
      .filter((key) => this.#usable(key.kid))
      .sort((a, b) => Number(b.kid === activeKid) - Number(a.kid === activeKid))
      .map((key) => ({ ...key.jwk }));
    return { keys };
  }

  /**
   * Retires the active key and makes a new one. `record` runs in the same transaction (the audit
   * trail's entry for the rotation), so a rotation is never left unrecorded.
   */
  async rotate(
    record?: (tx: Executor, rotated: { kid: string; retiredKid?: string }) => Promise<void>,
  ): Promise<{ kid: string; retiredKid?: string }> {
    if (this.#pinned) {
      throw new SigningKeyError(
        'SIGNING_KEY_JWK pins the signing key: rotate by replacing SIGNING_KEY_JWK instead',
      );
    }
    const result = await this.#inLockedTransaction(async (tx) => {
      const retired = await retireActiveSigningKeys(tx, this.#options.clock.now());
      const kid = await this.#insertNewKey(tx);
      const rotated = { kid, retiredKid: retired[0]?.kid };
      await record?.(tx, rotated);
      return rotated;
    });
    await this.reload();
    return result;
  }

  async reload(): Promise<void> {
    let rows = await this.#loadRows();
    if (!this.#pinned && !rows.some((row) => row.retiredAt === null)) {
      await this.#inLockedTransaction(async (tx) => {
        // Re-checked under the lock: another instance may have generated one while we waited.
        if (!(await hasActiveSigningKey(tx))) await this.#insertNewKey(tx);
      });
      rows = await this.#loadRows();
    }

    const known = new Map<string, KnownKey>();
    for (const row of rows) {
      const alg = signingAlgorithm(row.algorithm, row.kid);
      const jwk = publicJwk(row.publicKey as JWK, row.kid, alg);
      const key = this.#known.get(row.kid)?.key ?? (await importKey(jwk, alg, false));
      known.set(row.kid, { kid: row.kid, alg, key, jwk, retiredAt: row.retiredAt });
    }

    let active = this.#pinned?.active;
    const current = rows.find((row) => row.retiredAt === null);
    if (!active && current) {
      active = this.#active?.kid === current.kid ? this.#active : await this.#importPrivate(current);
    }
    if (!active) throw new Error('No active signing key after reload');
    if (this.#pinned) known.set(this.#pinned.known.kid, this.#pinned.known);

    this.#known = known;
    this.#active = active;
  }

  toJSON(): { activeKid: string | undefined; kids: string[] } {
    return { activeKid: this.#active?.kid, kids: [...this.#known.keys()] };
  }

  [inspect.custom](): string {
    return `SigningKeyStore { activeKid: ${this.#active?.kid}, kids: [${[...this.#known.keys()].join(', ')}] }`;
  }

  #usable(kid: string): KnownKey | undefined {
    const key = this.#known.get(kid);
    if (!key?.retiredAt) return key;
    const liveUntil = key.retiredAt.getTime() + this.#liveWindowMs();
    return liveUntil > this.#options.clock.now().getTime() ? key : undefined;
  }

  #liveWindowMs(): number {
    return (this.#options.maxAccessTokenTtlSeconds + RETIRED_GRACE_SECONDS) * 1000;
  }

  #reloadAfterMiss(): Promise<void> {
    if (this.#missReload) return this.#missReload;
    const now = this.#options.clock.now().getTime();
    if (now - this.#lastMissReload < MISS_RELOAD_INTERVAL_MS) return Promise.resolve();
    this.#lastMissReload = now;
    this.#missReload = this.reload()
      .catch((error: unknown) => this.#options.onReloadError?.(error))
      .finally(() => {
        this.#missReload = undefined;
      });
    return this.#missReload;
  }

  /** Active keys, and retired keys whose tokens may still be live; newest first. */
  #loadRows(): Promise<SigningKeyRow[]> {
    const cutoff = new Date(this.#options.clock.now().getTime() - this.#liveWindowMs());
    return findLiveSigningKeys(this.#db, cutoff);
  }

  #inLockedTransaction<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    const inTransaction = (db: Db) => inSigningKeyLock(db, work);
    return this.#options.direct ? this.#options.direct(inTransaction) : inTransaction(this.#db);
  }

  async #insertNewKey(tx: Executor): Promise<string> {
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    const pub = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(pub);
    const privateJson = JSON.stringify(await exportJWK(pair.privateKey));
    await insertSigningKey(tx, {
      kid,
      algorithm: 'EdDSA',
      publicKey: { ...publicJwk(pub, kid, 'EdDSA') },
      privateKey: this.#encrypter ? this.#encrypter.encrypt(kid, privateJson) : privateJson,
      encrypted: Boolean(this.#encrypter),
      createdAt: this.#options.clock.now(),
    });
    return kid;
  }

  async #importPrivate(row: SigningKeyRow): Promise<ActiveSigningKey> {
    const alg = signingAlgorithm(row.algorithm, row.kid);
    const json = openStoredPrivateKey(row.kid, row.privateKey, row.encrypted, this.#encrypter);
    try {
      return { kid: row.kid, alg, privateKey: await importKey(JSON.parse(json) as JWK, alg, true) };
    } catch {
      // Never chain the cause: JSON.parse messages quote the input.
      throw new SigningKeyError(`Signing key ${row.kid}: the stored private key is not a valid ${alg} JWK`);
    }
  }
}
