import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema.js';
import {
  attemptLogin,
  createTenant,
  REGISTER,
  registerUser,
  strongPassword,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, startTestServer, type TestServer, useTestServer } from './support/server.js';

/** The password policy as a signing-up user meets it, and how passwords are compared and stored. */

const server = useTestServer();
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

/** Letters and digits only, so no rule but the one under test can fire. */
const randomText = (length: number) =>
  Array.from(randomBytes(length), (b) => 'abcdefghjkmnpqrstuvwxyz23456789'[b % 31]).join('');
/** Random emoji (two UTF-16 units each), not a guessable repeat. */
const randomEmoji = (length: number) =>
  Array.from(randomBytes(length), (b) => String.fromCodePoint(0x1f600 + (b % 64))).join('');
/** Random two-byte letters. */
const randomAccented = (length: number) =>
  Array.from(randomBytes(length), (b) => 'éèêëàâäôöûüçñ'[b % 13]).join('');

function register(password: string, options: { tenant?: string; email?: string } = {}) {
  const email = options.email ?? `${unique('pw')}@example.test`;
  return server.gql(REGISTER, { input: { tenant: options.tenant ?? tenantSlug, email, password } });
}

async function expectRejected(
  password: string,
  rule: RegExp,
  options: { tenant?: string; email?: string } = {},
) {
  const response = await register(password, options);
  expect(errorCode(response), JSON.stringify(password)).toBe('BAD_USER_INPUT');
  expect(response.data ?? null).toBeNull();
  const fields = response.errors?.[0]?.extensions?.fields as { field: string; message: string }[];
  expect(fields.length).toBeGreaterThan(0);
  for (const field of fields) expect(field).toEqual({ field: 'password', message: expect.any(String) });
  expect(fields.map((f) => f.message).join(' ')).toMatch(rule);
  expect(response.errors?.[0]?.message).toMatch(rule);
  // Neither the password nor a recognisable piece of it comes back.
  const body = JSON.stringify(response);
  expect(body).not.toContain(JSON.stringify(password).slice(1, -1));
  if (password.length >= 8) expect(body).not.toContain(password.slice(0, 8));
  return fields;
}

async function expectAccepted(password: string, options: { tenant?: string; email?: string } = {}) {
  const response = await register(password, options);
  expect(response.errors, JSON.stringify(password)).toBeUndefined();
  expect(response.data?.register.accessToken).toEqual(expect.any(String));
}

describe('password policy on register', () => {
  it('needs passwordMinLength code points: 12 by default, or the tenant setting', async () => {
    await expectRejected(randomText(11), /at least 12 characters/);
    await expectAccepted(randomText(12));
    const strict = await createTenant(server, { settings: { passwordMinLength: 16 } });
    await expectRejected(randomText(15), /at least 16 characters/, { tenant: strict.slug });
    await expectAccepted(randomText(16), { tenant: strict.slug });
  });

  it('counts code points after NFKC, not UTF-16 units or raw input', async () => {
    // Three "ﬁ" ligatures and six letters (nine UTF-16 units) are twelve letters after NFKC.
    await expectAccepted(`\uFB01${randomText(2)}\uFB01${randomText(2)}\uFB01${randomText(2)}`);
    // Eleven emoji are 22 UTF-16 units but eleven characters.
    await expectRejected(randomEmoji(11), /at least 12 characters/);
    await expectAccepted(randomEmoji(12));
  });

  it('allows up to 256 code points and rejects more', async () => {
    await expectAccepted(randomText(256));
    await expectRejected(randomText(257), /at most 256 characters/);
    await expectAccepted(randomEmoji(256));
  });

  it('rejects common passwords, whatever their case', async () => {
    for (const password of ['qwerty123456', 'QWERTY123456', '1qaz2wsx3edc', 'leavemealone']) {
      await expectRejected(password, /too common/);
    }
  });

  it('rejects a password equal to or containing the email local part', async () => {
    const local = unique('margaret.hamilton');
    const email = `${local}@example.test`;
    await expectRejected(local, /email/, { email });
    await expectRejected(`My ${local.toUpperCase()} pw!`, /email/, { email });
    await expectAccepted(strongPassword(), { email });
  });

  it('rejects U+0000', async () => {
    await expectRejected(`${randomText(10)}\u0000${randomText(10)}`, /NUL|U\+0000/);
  });

  it('names every rule a password breaks at once', async () => {
    // Too short and too common. (A NUL is refused at the argument boundary, before any policy.)
    const fields = await expectRejected('letmein', /at least 12 characters/);
    expect(fields.length).toBeGreaterThanOrEqual(2);
    expect(fields.map((f) => f.message).join(' ')).toMatch(/too common/);
  });
});

describe('password comparison', () => {
  it('counts every byte: passwords sharing their first 80 bytes do not open each other', async () => {
    for (const prefix of [randomText(80), randomAccented(40) + randomText(4)]) {
      expect(Buffer.byteLength(prefix)).toBeGreaterThanOrEqual(80);
      const alice = await registerUser(server, tenantSlug, { password: `${prefix} alice` });
      const bob = await registerUser(server, tenantSlug, { password: `${prefix} bob` });
      expect(errorCode(await attemptLogin(server, tenantSlug, alice.email, bob.password))).toBe(
        'UNAUTHENTICATED',
      );
      expect(errorCode(await attemptLogin(server, tenantSlug, bob.email, alice.password))).toBe(
        'UNAUTHENTICATED',
      );
      // A difference far past byte 72 alone is enough to refuse.
      const late = `${alice.password.slice(0, -1)}X`;
      expect(errorCode(await attemptLogin(server, tenantSlug, alice.email, late))).toBe('UNAUTHENTICATED');
      expect((await attemptLogin(server, tenantSlug, alice.email, alice.password)).data?.login.user.id).toBe(
        alice.userId,
      );
      expect((await attemptLogin(server, tenantSlug, bob.email, bob.password)).data?.login.user.id).toBe(
        bob.userId,
      );
    }
  });

  it('treats precomposed and decomposed é alike', async () => {
    const tail = randomText(8);
    const precomposed = `Caf\u00e9 cr\u00e8me ${tail}`;
    const decomposed = `Cafe\u0301 cre\u0300me ${tail}`;
    expect(precomposed).not.toBe(decomposed);
    const one = await registerUser(server, tenantSlug, { password: precomposed });
    expect((await attemptLogin(server, tenantSlug, one.email, decomposed)).data?.login.user.id).toBe(
      one.userId,
    );
    const two = await registerUser(server, tenantSlug, { password: decomposed });
    expect((await attemptLogin(server, tenantSlug, two.email, precomposed)).data?.login.user.id).toBe(
      two.userId,
    );
  });

  it('never stores the password itself', async () => {
    const user = await registerUser(server, tenantSlug);
    const [row] = await server.testDatabase.database.db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.id, user.userId));
    expect(row?.hash).toMatch(/^\$ia1\$(sha256|hmac-sha256)\$\$2[aby]\$04\$/);
    expect(row?.hash).not.toContain(user.password);
  });
});

describe('hash upgrade when BCRYPT_COST changes', () => {
  it('rehashes at the next successful sign-in on a server restarted with the new cost', async () => {
    const before = await startTestServer({ BCRYPT_COST: '4' });
    const database = before.testDatabase;
    let after: TestServer | undefined;
    try {
      const tenant = await createTenant(before);
      const user = await registerUser(before, tenant.slug);
      const storedHash = async () =>
        (
          await database.database.db
            .select({ hash: users.passwordHash })
            .from(users)
            .where(eq(users.id, user.userId))
        )[0]?.hash;
      const original = await storedHash();
      expect(original).toMatch(/\$2[aby]\$04\$/);
      await before.app.close();

      after = await startTestServer({ BCRYPT_COST: '5' }, { database });
      // The deployment is the same: keys and sessions carry over.
      expect(await tokenWorks(after, user.accessToken)).toBe(true);
      // A wrong password upgrades nothing.
      expect(errorCode(await attemptLogin(after, tenant.slug, user.email, `${user.password}!`))).toBe(
        'UNAUTHENTICATED',
      );
      expect(await storedHash()).toBe(original);

      const signedIn = await attemptLogin(after, tenant.slug, user.email, user.password);
      expect(signedIn.data?.login.user.id).toBe(user.userId);
      const upgraded = await storedHash();
      expect(upgraded).not.toBe(original);
      expect(upgraded).toMatch(/\$2[aby]\$05\$/);

      // The new hash opens the account, and is not redone on every sign-in.
      expect((await attemptLogin(after, tenant.slug, user.email, user.password)).data?.login).toBeTruthy();
      expect(await storedHash()).toBe(upgraded);
    } finally {
      await after?.close();
      await before.close();
    }
  });
});
