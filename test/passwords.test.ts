import { createHash } from 'node:crypto';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import {
  checkPasswordPolicy,
  commonPasswords,
  MAX_PASSWORD_LENGTH,
  normalizePassword,
  PasswordHasher,
} from '../src/modules/passwords/index.js';
import { Semaphore } from '../src/modules/passwords/semaphore.js';

const rules = (pw: string, opts: { minLength: number; email?: string } = { minLength: 12 }) =>
  checkPasswordPolicy(pw, opts).map((v) => v.rule);

const GOOD = 'violet-tram-harbour-9';

describe('password policy', () => {
  it('enforces the minimum length (and nothing about composition)', () => {
    expect(rules('all lowercase words here')).toEqual([]);
    const v = checkPasswordPolicy('short-pass!', { minLength: 12 });
    expect(v).toEqual([{ rule: 'TOO_SHORT', message: 'Password must be at least 12 characters long.' }]);
    expect(rules('short-pass!x')).toEqual([]);
  });

  it('counts code points after NFKC: the ﬁ ligature becomes two', () => {
    // 11 UTF-16 units, but NFKC turns U+FB01 into "fi": 12 code points.
    const pw = 'xq\uFB01zzkwpvhj';
    expect(pw.length).toBe(11);
    expect(normalizePassword(pw)).toBe('xqfizzkwpvhj');
    expect(rules(pw)).toEqual([]);
  });

  it('counts an emoji as one code point, not two UTF-16 units', () => {
    const pw = `${'k7#pq'.repeat(2)}\u{1F600}`; // 11 code points, 12 UTF-16 units
    expect(pw.length).toBe(12);
    expect(rules(pw)).toEqual(['TOO_SHORT']);
    expect(rules(`${pw}z`)).toEqual([]);
  });

  it('allows 256 code points and rejects 257', () => {
    // Random, so that only the length rules apply.
    const base = Array.from({ length: 8 }, (_, i) =>
      createHash('sha256').update(String(i)).digest('base64url'),
    )
      .join('')
      .slice(0, 256);
    expect([...base].length).toBe(MAX_PASSWORD_LENGTH);
    expect(rules(base)).toEqual([]);
    expect(rules(`${base}a`)).toEqual(['TOO_LONG']);
    // 256 emoji are 512 UTF-16 units yet still allowed.
    const emoji = Array.from(createHash('sha512').update('emoji').digest(), (b) =>
      String.fromCodePoint(0x1f600 + (b % 64)),
    ).join('');
    const emoji256 = emoji.repeat(4);
    expect([...emoji256].length).toBe(256);
    expect(rules(emoji256)).toEqual([]);
    expect(rules(`${emoji256}\u{1F600}`)).toEqual(['TOO_LONG']);
  });

  it('rejects U+0000', () => {
    const v = checkPasswordPolicy(`${GOOD}\u0000tail`, { minLength: 12 });
    expect(v.map((x) => x.rule)).toEqual(['NUL_CHARACTER']);
    expect(v[0]?.message).toMatch(/NUL/);
  });

  it('ships a common-password list of at least 10,000 entries', () => {
    expect(commonPasswords().size).toBeGreaterThanOrEqual(10_000);
  });

  it('rejects common passwords case-insensitively', () => {
    for (const pw of ['password1234', 'PASSWORD1234', 'PassWord1234', 'qwertyuiop123']) {
      expect(commonPasswords().has(pw.toLowerCase())).toBe(true);
      expect(rules(pw)).toEqual(['COMMON']);
    }
    // Not on the list (what the pattern estimate makes of it is another rule).
    expect(rules('password1234x')).not.toContain('COMMON');
    expect(rules('ＰＡＳＳＷＯＲＤ１２３４')).toEqual(['COMMON']); // fullwidth: NFKC -> PASSWORD1234
  });

  it('rejects a password containing or equal to the email local part', () => {
    const email = 'Alice.Smith@example.com';
    expect(rules('my-alice.smith-pw', { minLength: 12, email })).toEqual(['CONTAINS_EMAIL']);
    expect(rules('ALICE.SMITH!!', { minLength: 12, email })).toEqual(['CONTAINS_EMAIL']);
    expect(rules(GOOD, { minLength: 12, email })).toEqual([]);
    // The local part is before the LAST '@'.
    expect(rules('xyzzy-quux-plover-1', { minLength: 12, email: '"a@b"xyzzy-quux@example.com' })).toEqual([]);
    expect(rules('xx"a@b"xyzzy-quux', { minLength: 12, email: '"a@b"xyzzy-quux@example.com' })).toEqual([
      'CONTAINS_EMAIL',
    ]);
  });

  it('applies only equality when the local part is shorter than 3 code points', () => {
    expect(rules('jo-violet-tram', { minLength: 12, email: 'jo@example.com' })).toEqual([]);
    expect(rules('Jo', { minLength: 2, email: 'jo@example.com' })).toEqual(['CONTAINS_EMAIL']);
    expect(rules('bob-violet-tram', { minLength: 12, email: 'bob@example.com' })).toEqual(['CONTAINS_EMAIL']);
  });

  it('never echoes the password in a message', () => {
    const secret = 'xyzzy';
    const v = checkPasswordPolicy(`${secret}\u0000`, { minLength: 12, email: `${secret}@x.io` });
    expect(v.map((x) => x.rule)).toEqual(['TOO_SHORT', 'NUL_CHARACTER', 'CONTAINS_EMAIL']);
    for (const { message } of v) expect(message.toLowerCase()).not.toContain(secret);
  });
});

const fast = (extra: Partial<ConstructorParameters<typeof PasswordHasher>[0]> = {}) =>
  new PasswordHasher({ cost: 4, ...extra });

describe('PasswordHasher', () => {
  it('round-trips and records the scheme in the stored string', async () => {
    const h = fast();
    const stored = await h.hash(GOOD);
    expect(stored).toMatch(/^\$ia1\$sha256\$\$2[aby]\$04\$[./A-Za-z0-9]{53}$/);
    expect(await h.verify(GOOD, stored)).toEqual({ ok: true, needsRehash: false });
    expect(await h.verify(`${GOOD}x`, stored)).toEqual({ ok: false, needsRehash: false });
  });

  it('makes every byte count past bcrypt’s 72-byte limit', async () => {
    const h = fast();
    const prefix = 'p'.repeat(80);
    const stored = await h.hash(`${prefix}-first`);
    expect((await h.verify(`${prefix}-other`, stored)).ok).toBe(false);
    expect((await h.verify(`${prefix}-first`, stored)).ok).toBe(true);
  });

  it('verifies precomposed and decomposed é alike', async () => {
    const h = fast();
    const stored = await h.hash('caf\u00E9-violet-tram');
    expect((await h.verify('cafe\u0301-violet-tram', stored)).ok).toBe(true);
  });

  it('uses the pepper, and upgrades unpeppered hashes via their recorded scheme', async () => {
    const plain = fast();
    const peppered = fast({ pepper: 'server-secret-1' });
    const oldHash = await plain.hash(GOOD);
    const newHash = await peppered.hash(GOOD);
    expect(newHash.startsWith('$ia1$hmac-sha256$')).toBe(true);
    expect(await peppered.verify(GOOD, newHash)).toEqual({ ok: true, needsRehash: false });
    expect(await peppered.verify(GOOD, oldHash)).toEqual({ ok: true, needsRehash: true });
    // Without the pepper a peppered hash cannot be checked, and another pepper does not match.
    expect((await plain.verify(GOOD, newHash)).ok).toBe(false);
    expect((await fast({ pepper: 'server-secret-2' }).verify(GOOD, newHash)).ok).toBe(false);
    // Relabelling a peppered bcrypt string as sha256 must not verify.
    expect((await peppered.verify(GOOD, newHash.replace('hmac-sha256', 'sha256'))).ok).toBe(false);
  });

  it('asks for a rehash when the configured cost changes', async () => {
    const stored = await fast().hash(GOOD);
    expect(await new PasswordHasher({ cost: 5 }).verify(GOOD, stored)).toEqual({
      ok: true,
      needsRehash: true,
    });
  });

  it('verifies legacy plain bcrypt strings and marks them for rehash', async () => {
    const legacy = (await bcryptHash('legacy-password!', 4)).replace(/^\$2y\$/, '$2b$');
    const h = fast();
    expect(await h.verify('legacy-password!', legacy)).toEqual({ ok: true, needsRehash: true });
    expect(await h.verify('legacy-password?', legacy)).toEqual({ ok: false, needsRehash: false });
  });

  it('returns ok:false for malformed stored strings without throwing', async () => {
    const h = fast();
    const good = await h.hash(GOOD);
    const sha = createHash('sha256').update(GOOD).digest('hex');
    for (const bad of [
      '',
      'nope',
      sha,
      '$ia1$',
      `$ia1$md5$${good.slice(12)}`,
      good.slice(0, -1),
      `${good}x`,
      good.replace(/\$2[aby]\$/, '$2x$'), // crypt_blowfish bug-compat variant: refused
    ]) {
      await expect(h.verify(GOOD, bad)).resolves.toEqual({ ok: false, needsRehash: false });
    }
    await expect(h.verify(GOOD, undefined as unknown as string)).resolves.toEqual({
      ok: false,
      needsRehash: false,
    });
  });

  it('never runs more than maxConcurrency operations at once and reports durations', async () => {
    const durations: Array<[number, string]> = [];
    const seen: number[] = [];
    const onHashDuration = (s: number, op: string) => {
      durations.push([s, op]);
      seen.push(h.running); // called inside the slot
    };
    const h = new PasswordHasher({ cost: 6, maxConcurrency: 2, onHashDuration });
    const jobs = Array.from({ length: 8 }, (_, i) => h.hash(`${GOOD}-${i}`));
    const sample = setInterval(() => seen.push(h.running), 1);
    expect([h.running, h.queued]).toEqual([2, 6]);
    await Promise.all(jobs);
    clearInterval(sample);
    expect(Math.max(...seen)).toBe(2);
    expect(h.running).toBe(0);
    expect(h.queued).toBe(0);
    expect(durations).toHaveLength(8);
    expect(durations.every(([s, op]) => op === 'hash' && s > 0)).toBe(true);
  });

  it('hands slots out in FIFO order', async () => {
    const gate = new Semaphore(1);
    const order: number[] = [];
    let release!: () => void;
    const first = gate.run(() => new Promise<void>((r) => (release = r)));
    const rest = [1, 2, 3].map((i) => gate.run(async () => void order.push(i)));
    expect(gate.queued).toBe(3);
    release();
    await Promise.all([first, ...rest]);
    expect(order).toEqual([1, 2, 3]);
    expect(gate.running).toBe(0);
  });

  it('verifyDummy returns false and takes about as long as a real verify', async () => {
    const h = new PasswordHasher({ cost: 10, maxConcurrency: 1 });
    const stored = await h.hash(GOOD);
    expect(await h.verifyDummy(GOOD)).toBe(false); // also builds the dummy hash before timing
    expect(await h.verifyDummy('')).toBe(false);
    const median = async (f: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await f();
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[2] ?? 0;
    };
    const real = await median(() => h.verify('wrong-password-x', stored));
    const dummy = await median(() => h.verifyDummy('wrong-password-x'));
    expect(dummy).toBeGreaterThan(real * 0.5);
    expect(dummy).toBeLessThan(real * 2);
  }, 20_000);
});
