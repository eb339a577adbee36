import { createHash, createHmac, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';
import { normalizePassword } from './policy.js';
import { Semaphore } from './semaphore.js';

/*
 * Stored format:  $ia1$<scheme>$<bcrypt string>
 *
 *   $ia1$sha256$$2y$12$…        bcrypt(base64(SHA-256(NFKC(pw))), cost)
 *   $ia1$hmac-sha256$$2y$12$…   bcrypt(base64(HMAC-SHA-256(pepper, NFKC(pw))), cost)
 *   $2a$/$2b$/$2y$…             "bcrypt-raw": an older system's plain bcrypt(pw)
 *
 * Why pre-hash: bcrypt silently ignores everything past 72 bytes, so two long
 * passwords sharing a prefix would collide; a 44-byte base64 digest keeps every
 * character significant and contains no NUL. "ia1" versions the envelope; the
 * scheme names the pre-hash; the cost lives in the bcrypt string. Any of the
 * three differing from the current configuration means "rehash on next login".
 * The pepper lives outside the database, so a stolen table alone cannot be
 * attacked offline. Pepper rotation would need a key id in the scheme
 * (e.g. "hmac-sha256.k2"); there is a single pepper for now.
 */
export type HashScheme = 'sha256' | 'hmac-sha256' | 'bcrypt-raw';

export interface PasswordHasherOptions {
  cost: number;
  pepper?: string;
  maxConcurrency?: number;
  onHashDuration?: (seconds: number, op: 'hash' | 'verify') => void;
}

export interface VerifyResult {
  ok: boolean;
  needsRehash: boolean;
}

const PREFIX = '$ia1$';
// 2x is the crypt_blowfish bug-compatibility mode: never produced, never accepted.
const BCRYPT_RE = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

interface ParsedHash {
  scheme: HashScheme;
  bcrypt: string;
  cost: number;
}

function parseStored(stored: string): ParsedHash | undefined {
  let scheme: HashScheme = 'bcrypt-raw';
  let bcrypt = stored;
  if (stored.startsWith(PREFIX)) {
    const rest = stored.slice(PREFIX.length);
    const sep = rest.indexOf('$');
    const name = rest.slice(0, sep);
    if (sep === -1 || (name !== 'sha256' && name !== 'hmac-sha256')) return undefined;
    scheme = name;
    bcrypt = rest.slice(sep + 1);
  }
  const match = BCRYPT_RE.exec(bcrypt);
  if (!match) return undefined;
  return { scheme, bcrypt, cost: Number(match[1]) };
}

export class PasswordHasher {
  readonly #cost: number;
  readonly #pepper: string | undefined;
  readonly #scheme: HashScheme;
  readonly #gate: Semaphore;
  readonly #onDuration: PasswordHasherOptions['onHashDuration'];
  #dummy: Promise<string> | undefined;

  constructor(opts: PasswordHasherOptions) {
    if (!Number.isInteger(opts.cost) || opts.cost < 4 || opts.cost > 31) {
      throw new RangeError('bcrypt cost must be an integer between 4 and 31');
    }
    if (opts.pepper === '') throw new RangeError('pepper must be non-empty when given');
    this.#cost = opts.cost;
    this.#pepper = opts.pepper;
    this.#scheme = opts.pepper === undefined ? 'sha256' : 'hmac-sha256';
    this.#gate = new Semaphore(opts.maxConcurrency ?? availableParallelism());
    this.#onDuration = opts.onHashDuration;
  }

  get running(): number {
    return this.#gate.running;
  }

  get queued(): number {
    return this.#gate.queued;
  }

  async hash(password: string): Promise<string> {
    const input = this.#prehash(this.#scheme, password);
    if (input === undefined) throw new Error('unreachable: current scheme always has its key');
    const bcrypt = await this.#timed('hash', () => bcryptHash(input, this.#cost));
    return `${PREFIX}${this.#scheme}$${bcrypt}`;
  }

  /** Never throws for bad input: an unparseable or unverifiable hash is simply "no". */
  async verify(password: string, stored: string): Promise<VerifyResult> {
    const parsed = typeof stored === 'string' ? parseStored(stored) : undefined;
    if (!parsed) return { ok: false, needsRehash: false };
    const candidates = this.#candidates(parsed.scheme, password);
    // A peppered hash with no pepper configured cannot be checked: a deployment error, not a match.
    if (candidates.length === 0) return { ok: false, needsRehash: false };
    let ok = false;
    try {
      ok = await this.#timed('verify', async () => {
        for (const candidate of candidates) {
          if (await bcryptVerify(candidate, parsed.bcrypt)) return true;
        }
        return false;
      });
    } catch {
      ok = false;
    }
    const needsRehash = ok && (parsed.scheme !== this.#scheme || parsed.cost !== this.#cost);
    return { ok, needsRehash };
  }

  /**
   * For unknown accounts: same pre-hash, same cost, same queue as a real verify,
   * so response time does not reveal whether the account exists.
   */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(password, await this.#dummyHash());
    return false;
  }

  /**
   * Makes the hash unknown accounts are checked against now, so that the first sign-in with an
   * unknown email does not pay (and show, in its time and in the hash metric) for making it.
   */
  prepareDummy(): Promise<void> {
    return this.#dummyHash().then(() => undefined);
  }

  #dummyHash(): Promise<string> {
    if (this.#dummy === undefined) {
      // Not timed into the hash metric: a scraper would see the first unknown email as a hash.
      const input = this.#prehash(this.#scheme, randomBytes(32).toString('base64')) as string;
      const pending = this.#gate
        .run(() => bcryptHash(input, this.#cost))
        .then((bcrypt) => `${PREFIX}${this.#scheme}$${bcrypt}`);
      pending.catch(() => {
        if (this.#dummy === pending) this.#dummy = undefined;
      });
      this.#dummy = pending;
    }
    return this.#dummy;
  }

  #candidates(scheme: HashScheme, password: string): string[] {
    if (scheme !== 'bcrypt-raw') {
      const input = this.#prehash(scheme, password);
      return input === undefined ? [] : [input];
    }
    // Legacy hashes were made from whatever bytes the old client sent; accept the
    // NFKC form too so a differently-normalised keyboard still gets in (once, then rehashed).
    const normalized = normalizePassword(password);
    return normalized === password ? [password] : [password, normalized];
  }

  #prehash(scheme: HashScheme, password: string): string | undefined {
    const data = Buffer.from(normalizePassword(password), 'utf8');
    if (scheme === 'sha256') return createHash('sha256').update(data).digest('base64');
    if (scheme === 'hmac-sha256' && this.#pepper !== undefined) {
      return createHmac('sha256', this.#pepper).update(data).digest('base64');
    }
    return undefined;
  }

  // Times the bcrypt work itself, not the wait in the queue (that is visible via `queued`).
  #timed<T>(op: 'hash' | 'verify', work: () => Promise<T>): Promise<T> {
    return this.#gate.run(async () => {
      const start = performance.now();
      try {
        return await work();
      } finally {
        const seconds = (performance.now() - start) / 1000;
        try {
          this.#onDuration?.(seconds, op);
        } catch {
          // A failing metrics callback must not fail a sign-in.
        }
      }
    });
  }
}
