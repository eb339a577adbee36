import { createHmac, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { isNull, sql } from 'drizzle-orm';
import express from 'express';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectDatabase, type Db } from '../src/db/client.js';
import { signingKeys } from '../src/db/schema.js';
import { ManualClock } from '../src/kernel/clock.js';
import { UnauthenticatedError } from '../src/kernel/errors.js';
import { AccessTokens, jwksHandler, KeyEncrypter, SigningKeyStore } from '../src/modules/keys/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

const ISSUER = 'https://identity.test';
const AUDIENCE = 'identity-api-test';
const TTL = 900;
const CLAIMS = { sub: randomUUID(), tid: randomUUID(), role: 'ADMIN', sid: randomUUID() };

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function openStore(
  db: Db,
  clock: ManualClock,
  extra: { keyEncryptionKey?: string; signingKeyJwk?: string } = {},
) {
  return SigningKeyStore.open(db, { clock, maxAccessTokenTtlSeconds: TTL, ...extra });
}

function tokensFor(store: SigningKeyStore, clock: ManualClock, cacheSize?: number) {
  return new AccessTokens(store, { issuer: ISSUER, audience: AUDIENCE, clock, cacheSize });
}

/** A well-formed payload for hand-built tokens, valid at `clock`. */
function payloadAt(clock: ManualClock, overrides: Record<string, unknown> = {}) {
  const iat = Math.floor(clock.now().getTime() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, ...CLAIMS, jti: randomUUID(), iat, exp: iat + TTL, ...overrides };
}

async function expectRejected(tokens: AccessTokens, token: string) {
  const error = await tokens.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnauthenticatedError);
  const { message, extensions } = error as UnauthenticatedError;
  expect(extensions.code).toBe('UNAUTHENTICATED');
  expect(message).not.toContain(token.slice(0, 20));
}

async function activeRows(db: Db) {
  return db.select().from(signingKeys).where(isNull(signingKeys.retiredAt));
}

describe('access tokens', () => {
  let t: TestDatabase;
  let clock: ManualClock;
  let store: SigningKeyStore;
  let tokens: AccessTokens;

  beforeAll(async () => {
    t = await createTestDatabase();
    clock = new ManualClock();
    store = await openStore(t.database.db, clock);
    tokens = tokensFor(store, clock);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('signs and verifies every claim, with typ and kid in the header', async () => {
    const { token, expiresAt, jti } = await tokens.sign(CLAIMS, TTL);
    const header = jose.decodeProtectedHeader(token);
    expect(header).toEqual({ alg: 'EdDSA', kid: store.active().kid, typ: 'at+jwt' });
    const iat = Math.floor(clock.now().getTime() / 1000);
    expect(expiresAt.getTime()).toBe((iat + TTL) * 1000);
    expect(jose.decodeJwt(token)).toMatchObject({ iss: ISSUER, aud: AUDIENCE });
    const claims = await tokensFor(store, clock, 0).verify(token);
    expect(claims).toEqual({ ...CLAIMS, jti, iat, exp: iat + TTL });
    expect(store.algorithms()).toEqual(['EdDSA']);
  });

  it('rejects alg none', async () => {
    const header = { alg: 'none', typ: 'at+jwt', kid: store.active().kid };
    await expectRejected(tokens, `${b64(header)}.${b64(payloadAt(clock))}.`);
  });

  it('rejects HS256 tokens forged with the public key as the HMAC secret', async () => {
    const jwk = store.jwks().keys[0] as jose.JWK;
    const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const secrets = [Buffer.from(jwk.x as string, 'base64url'), JSON.stringify(jwk), String(pem)];
    for (const secret of secrets) {
      const signingInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid })}.${b64(payloadAt(clock))}`;
      const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
      await expectRejected(tokens, `${signingInput}.${signature}`);
    }
  });

  it('rejects a tampered payload or signature', async () => {
    const { token } = await tokens.sign(CLAIMS, TTL);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const elevated = b64({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'SUPERADMIN' });
    await expectRejected(tokens, `${header}.${elevated}.${signature}`);
    // A middle character: the last one partly encodes padding bits, and flipping it may change nothing.
    const i = Math.floor(signature.length / 2);
    const flipped = signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
    await expectRejected(tokens, `${header}.${payload}.${flipped}`);
    await expectRejected(tokens, 'not-a-jwt');
  });

  it('rejects an unknown kid, reloading from the database at most once per 10 seconds', async () => {
    const stranger = await jose.generateKeyPair('EdDSA');
    const forge = () =>
      new jose.SignJWT(payloadAt(clock))
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: `unknown-${randomUUID()}` })
        .sign(stranger.privateKey);
    const reload = vi.spyOn(store, 'reload');
    try {
      await expectRejected(tokens, await forge());
      await expectRejected(tokens, await forge());
      expect(reload).toHaveBeenCalledTimes(1);
      clock.advance(11_000);
      await expectRejected(tokens, await forge());
      expect(reload).toHaveBeenCalledTimes(2);
    } finally {
      reload.mockRestore();
    }
  });

  it('rejects a wrong typ, iss or aud, and missing or mistyped claims', async () => {
    const { kid, privateKey } = store.active();
    const sign = (payload: jose.JWTPayload, typ = 'at+jwt') =>
      new jose.SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid, typ }).sign(privateKey);
    // The control: the same recipe with nothing wrong passes, so each rejection below is about its one change.
    await expect(tokens.verify(await sign(payloadAt(clock)))).resolves.toMatchObject(CLAIMS);
    await expectRejected(tokens, await sign(payloadAt(clock), 'JWT'));
    await expectRejected(tokens, await sign(payloadAt(clock, { iss: 'https://evil.test' })));
    await expectRejected(tokens, await sign(payloadAt(clock, { aud: 'another-api' })));
    await expectRejected(tokens, await sign(payloadAt(clock, { sid: undefined })));
    await expectRejected(tokens, await sign(payloadAt(clock, { role: 5 })));
    await expectRejected(tokens, await sign(payloadAt(clock, { tid: '' })));
  });

  it('accepts an expired token within the 30 s tolerance and rejects it beyond', async () => {
    const start = clock.now();
    const { token } = await tokens.sign(CLAIMS, 60);
    const uncached = tokensFor(store, clock, 0);
    try {
      clock.advance((60 + 29) * 1000);
      await expect(uncached.verify(token)).resolves.toMatchObject(CLAIMS);
      clock.advance(2000);
      await expectRejected(uncached, token);
    } finally {
      clock.set(start);
    }
  });

  it('serves verified tokens from the cache, but never past exp', async () => {
    const start = clock.now();
    const cached = tokensFor(store, clock);
    const { token } = await tokens.sign(CLAIMS, 60);
    const lookups = vi.spyOn(store, 'findVerificationKey');
    try {
      await cached.verify(token);
      await cached.verify(token);
      expect(lookups).toHaveBeenCalledTimes(1);
      clock.advance((60 + 31) * 1000);
      await expectRejected(cached, token);
    } finally {
      lookups.mockRestore();
      clock.set(start);
    }
  });

  it('lets a remote service verify with only the published JWKS', async () => {
    const { token } = await tokens.sign(CLAIMS, TTL);
    const published = JSON.parse(JSON.stringify(store.jwks())) as jose.JSONWebKeySet;
    const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(published), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      currentDate: clock.now(),
    });
    expect(payload).toMatchObject(CLAIMS);
  });

  it('publishes public keys only, and never shows private key material', async () => {
    const [row] = await activeRows(t.database.db);
    const d = (JSON.parse(row?.privateKey ?? '{}') as jose.JWK).d;
    expect(d).toEqual(expect.any(String));
    const jwks = store.jwks();
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    }
    const shown = [JSON.stringify(jwks), JSON.stringify(store), inspect(store, { depth: 10 })];
    for (const text of shown) expect(text).not.toContain(d);
    expect(JSON.stringify(jwks)).not.toContain('"d"');

    const app = express();
    app.get('/.well-known/jwks.json', jwksHandler(store));
    const server = app.listen(0, '127.0.0.1');
    try {
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`);
      expect(res.headers.get('cache-control')).toBe('public, max-age=300, stale-while-revalidate=60');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await res.text();
      expect(body).not.toContain('"d"');
      expect(JSON.parse(body)).toEqual(jwks);
    } finally {
      server.close();
    }
  });
});

describe('rotation', () => {
  let t: TestDatabase;
  afterAll(async () => {
    await t?.drop();
  });

  it('keeps old tokens verifying, signs with the new key, and drops the old key after max TTL', async () => {
    t = await createTestDatabase();
    const clock = new ManualClock();
    const a = await openStore(t.database.db, clock);
    // Another instance, started before the rotation: it must find the new key on its own.
    const b = await openStore(t.database.db, clock);
    const oldKid = a.active().kid;
    expect(b.active().kid).toBe(oldKid);
    const before = await tokensFor(a, clock).sign(CLAIMS, TTL);

    const { kid, retiredKid } = await a.rotate();
    expect(retiredKid).toBe(oldKid);
    expect(kid).not.toBe(oldKid);
    expect((await activeRows(t.database.db)).map((row) => row.kid)).toEqual([kid]);

    clock.advance((TTL - 100) * 1000);
    await expect(tokensFor(a, clock, 0).verify(before.token)).resolves.toMatchObject(CLAIMS);
    await expect(tokensFor(b, clock, 0).verify(before.token)).resolves.toMatchObject(CLAIMS);
    const after = await tokensFor(a, clock).sign(CLAIMS, TTL);
    expect(jose.decodeProtectedHeader(after.token).kid).toBe(kid);
    expect(a.jwks().keys.map((key) => key.kid)).toEqual([kid, oldKid]);

    await expect(tokensFor(b, clock, 0).verify(after.token)).resolves.toMatchObject(CLAIMS);
    expect(b.active().kid).toBe(kid);

    clock.advance((100 + 61) * 1000);
    expect(a.jwks().keys.map((key) => key.kid)).toEqual([kid]);
    expect(a.verificationKey(oldKid)).toBeUndefined();
    await a.reload();
    expect(a.jwks().keys.map((key) => key.kid)).toEqual([kid]);
  });
});

describe('concurrent start-up and rotation', () => {
  let t: TestDatabase;
  afterAll(async () => {
    await t?.drop();
  });

  it('ends with exactly one active key', async () => {
    t = await createTestDatabase();
    const other = await connectDatabase({ kind: 'postgres', url: t.url, poolMax: 4 });
    try {
      const clock = new ManualClock();
      const dbs = [t.database.db, other.db, t.database.db, other.db, t.database.db, other.db];
      const stores = await Promise.all(dbs.map((db) => openStore(db, clock)));
      expect(await activeRows(t.database.db)).toHaveLength(1);
      expect(new Set(stores.map((store) => store.active().kid)).size).toBe(1);

      await Promise.all(stores.slice(0, 4).map((store) => store.rotate()));
      expect(await activeRows(t.database.db)).toHaveLength(1);
      const total = await t.database.db.execute(sql`select count(*)::int as n from signing_keys`);
      expect(JSON.stringify(total)).toContain('"n":5');
    } finally {
      await other.close();
    }
  });
});

describe('KEY_ENCRYPTION_KEY', () => {
  const kek = randomBytes(32).toString('base64');
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(databases.map((d) => d.drop()));
  });

  it('stores private keys encrypted and refuses a wrong or missing key', async () => {
    const t = await createTestDatabase();
    databases.push(t);
    const clock = new ManualClock();
    const store = await openStore(t.database.db, clock, { keyEncryptionKey: kek });
    const [row] = await activeRows(t.database.db);
    expect(row?.encrypted).toBe(true);
    expect(row?.privateKey).toMatch(/^enc:v1:[\w-]{16}\.[\w-]+$/);
    expect(row?.privateKey).not.toContain('"d"');

    const again = await openStore(t.database.db, clock, { keyEncryptionKey: kek });
    expect(again.active().kid).toBe(store.active().kid);

    const wrong = randomBytes(32).toString('base64');
    const failure = await openStore(t.database.db, clock, { keyEncryptionKey: wrong }).catch((e: Error) => e);
    expect(String(failure)).toContain(
      `KEY_ENCRYPTION_KEY does not decrypt signing key ${store.active().kid}`,
    );
    expect(String(failure)).not.toContain(wrong);
    await expect(openStore(t.database.db, clock)).rejects.toThrow(
      /encrypted but KEY_ENCRYPTION_KEY is not set/,
    );
    expect(await activeRows(t.database.db)).toHaveLength(1);
  });

  it('loads a key stored in plaintext and encrypts it in place', async () => {
    const t = await createTestDatabase();
    databases.push(t);
    const clock = new ManualClock();
    const plain = await openStore(t.database.db, clock);
    expect((await activeRows(t.database.db))[0]?.privateKey).toContain('"d"');
    const encrypted = await openStore(t.database.db, clock, { keyEncryptionKey: kek });
    expect(encrypted.active().kid).toBe(plain.active().kid);
    const [row] = await activeRows(t.database.db);
    expect([row?.encrypted, row?.privateKey.startsWith('enc:v1:')]).toEqual([true, true]);
    const reopened = await openStore(t.database.db, clock, { keyEncryptionKey: kek });
    const token = await tokensFor(reopened, clock).sign(CLAIMS, TTL);
    await expect(tokensFor(plain, clock).verify(token.token)).resolves.toMatchObject(CLAIMS);
  });

  it('binds an envelope to its kid', () => {
    const encrypter = new KeyEncrypter(kek);
    const envelope = encrypter.encrypt('kid-a', '{"secret":1}');
    expect(encrypter.decrypt('kid-a', envelope)).toBe('{"secret":1}');
    expect(() => encrypter.decrypt('kid-b', envelope)).toThrow(/does not decrypt signing key kid-b/);
    expect(inspect(encrypter) + JSON.stringify(encrypter)).toBe('[KeyEncrypter]"[KeyEncrypter]"');
  });
});

describe('SIGNING_KEY_JWK', () => {
  let t: TestDatabase;
  afterAll(async () => {
    await t?.drop();
  });

  it('signs with a pinned ES256 key and still verifies database keys', async () => {
    t = await createTestDatabase();
    const clock = new ManualClock();
    const pair = await jose.generateKeyPair('ES256', { extractable: true });
    const privateJwk = { ...(await jose.exportJWK(pair.privateKey)), kid: 'pinned-es256' };
    const signingKeyJwk = JSON.stringify(privateJwk);
    // Pinned from the start: nothing is generated or stored.
    await openStore(t.database.db, clock, { signingKeyJwk });
    expect(await t.database.db.select().from(signingKeys)).toHaveLength(0);

    const generated = await openStore(t.database.db, clock);
    const earlier = await tokensFor(generated, clock).sign(CLAIMS, TTL);
    const store = await openStore(t.database.db, clock, { signingKeyJwk });
    expect(store.active()).toMatchObject({ kid: 'pinned-es256', alg: 'ES256' });
    expect(store.algorithms().sort()).toEqual(['ES256', 'EdDSA']);

    const tokens = tokensFor(store, clock, 0);
    const { token } = await tokens.sign(CLAIMS, TTL);
    expect(jose.decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: 'pinned-es256' });
    await expect(tokens.verify(token)).resolves.toMatchObject(CLAIMS);
    await expect(tokens.verify(earlier.token)).resolves.toMatchObject(CLAIMS);

    const jwks = store.jwks();
    expect(jwks.keys.map((key) => key.kid)).toEqual(['pinned-es256', generated.active().kid]);
    expect(jwks.keys[0]).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      y: privateJwk.y,
      alg: 'ES256',
      use: 'sig',
    });
    expect(JSON.stringify(jwks)).not.toContain(privateJwk.d);
    expect((await t.database.db.select().from(signingKeys)).map((row) => row.kid)).toEqual([
      generated.active().kid,
    ]);
    await expect(store.rotate()).rejects.toThrow(/SIGNING_KEY_JWK/);

    const broken = `{"kty":"OKP","crv":"Ed25519","d":"${privateJwk.d}"`;
    const failure = await openStore(t.database.db, clock, { signingKeyJwk: broken }).catch((e: Error) => e);
    expect(String(failure)).toMatch(/SIGNING_KEY_JWK must be a private JWK/);
    expect(String(failure)).not.toContain(privateJwk.d);
    const { d: _d, ...publicOnly } = privateJwk;
    await expect(
      openStore(t.database.db, clock, { signingKeyJwk: JSON.stringify(publicOnly) }),
    ).rejects.toThrow(/SIGNING_KEY_JWK must be a private JWK/);
  });
});

describe('embedded PGlite', () => {
  it('generates, rotates and verifies with the same code path', async () => {
    const database = await connectDatabase({ kind: 'pglite', dataDir: undefined });
    try {
      await database.migrate();
      const clock = new ManualClock();
      const [a, b] = await Promise.all([openStore(database.db, clock), openStore(database.db, clock)]);
      expect(a.active().kid).toBe(b.active().kid);
      const before = await tokensFor(a, clock).sign(CLAIMS, TTL);
      const { kid } = await a.rotate();
      expect(await activeRows(database.db)).toHaveLength(1);
      await expect(tokensFor(b, clock, 0).verify(before.token)).resolves.toMatchObject(CLAIMS);
      const after = await tokensFor(a, clock).sign(CLAIMS, TTL);
      await expect(tokensFor(b, clock, 0).verify(after.token)).resolves.toMatchObject(CLAIMS);
      expect(b.active().kid).toBe(kid);
    } finally {
      await database.close();
    }
  });
});
