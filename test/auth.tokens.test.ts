import { createPublicKey, randomUUID } from 'node:crypto';
import { isNull } from 'drizzle-orm';
import * as jose from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { signingKeys } from '../src/db/schema.js';
import { createTenant, registerUser, type SignedIn } from './support/fixtures.js';
import { errorCode, type GraphQLResponse, useTestServer } from './support/server.js';

/**
 * Access tokens as a client and another service see them: what they contain, where their key is
 * published, and that anything forged, tampered with or expired is refused over HTTP with 401.
 */

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const server = useTestServer();
let user: SignedIn;
let tenantId: string;

beforeAll(async () => {
  const tenant = await createTenant(server, { settings: { accessTokenTtlSeconds: 300 } });
  tenantId = tenant.id;
  user = await registerUser(server, tenant.slug);
});

function me(token: string) {
  return server.gql('{ me { id email } }', {}, { token });
}

function expect401(response: GraphQLResponse) {
  expect(response.status).toBe(401);
  expect(errorCode(response)).toBe('UNAUTHENTICATED');
  expect(response.headers.get('www-authenticate')).toBe('Bearer');
  expect(response.data ?? null).toBeNull();
}

/** The server's own active private key, as an insider (or a leaked backup) would hold it. */
async function serverSigningKey(): Promise<{ kid: string; key: jose.CryptoKey }> {
  const [row] = await server.testDatabase.database.db
    .select()
    .from(signingKeys)
    .where(isNull(signingKeys.retiredAt));
  if (!row) throw new Error('no active signing key');
  return { kid: row.kid, key: (await jose.importJWK(JSON.parse(row.privateKey), 'EdDSA')) as jose.CryptoKey };
}

/** Claims exactly like the ones the server issued to `user`, with `overrides` applied. */
function claimsLike(token: string, overrides: Record<string, unknown> = {}) {
  const claims = jose.decodeJwt(token);
  const now = Math.floor(server.clock.now().getTime() / 1000);
  return { ...claims, jti: randomUUID(), iat: now, exp: now + 300, ...overrides };
}

describe('issued access tokens', () => {
  it('are EdDSA JWTs typed at+jwt with a kid, carrying every contract claim', async () => {
    const header = jose.decodeProtectedHeader(user.accessToken);
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.any(String) });
    const claims = jose.decodeJwt(user.accessToken);
    expect(Object.keys(claims).sort()).toEqual(
      ['amr', 'aud', 'exp', 'iat', 'iss', 'jti', 'role', 'sid', 'sub', 'tid'].sort(),
    );
    // How the session was authenticated (RFC 8176): a password alone here.
    expect(claims.amr).toEqual(['pwd']);
    expect(claims).toMatchObject({
      iss: server.config.jwt.issuer,
      aud: server.config.jwt.audience,
      sub: user.userId,
      tid: tenantId,
      role: 'USER',
      sid: user.sessionId,
    });
    // The tenant's 300 s lifetime, and the payload tells the client the same expiry.
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(300);
    expect(new Date(user.accessTokenExpiresAt).getTime()).toBe((claims.exp ?? 0) * 1000);
    expect(user.tokenType).toBe('Bearer');
  });

  it('get a distinct jti per sign-in', async () => {
    const again = await registerUser(server, user.tenant);
    expect(jose.decodeJwt(again.accessToken).jti).not.toBe(jose.decodeJwt(user.accessToken).jti);
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes the signing key (public part only) with Cache-Control', async () => {
    const response = await fetch(new URL('/.well-known/jwks.json', server.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const jwks = (await response.json()) as { keys: jose.JWK[] };
    const { kid } = jose.decodeProtectedHeader(user.accessToken);
    const key = jwks.keys.find((k) => k.kid === kid);
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    for (const published of jwks.keys) expect(published).not.toHaveProperty('d');
  });

  it('lets another process verify an access token with createRemoteJWKSet + issuer/audience only', async () => {
    const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', server.url));
    const { payload, protectedHeader } = await jose.jwtVerify(user.accessToken, jwks, {
      issuer: server.config.jwt.issuer,
      audience: server.config.jwt.audience,
    });
    expect(payload).toMatchObject({ sub: user.userId, sid: user.sessionId, tid: tenantId });
    expect(protectedHeader.typ).toBe('at+jwt');
    // The same recipe refuses a token whose payload was changed.
    const [h, , s] = user.accessToken.split('.');
    const forged = `${h}.${b64({ ...jose.decodeJwt(user.accessToken), role: 'ADMIN' })}.${s}`;
    await expect(
      jose.jwtVerify(forged, jwks, {
        issuer: server.config.jwt.issuer,
        audience: server.config.jwt.audience,
      }),
    ).rejects.toThrow();
  });
});

describe('a Bearer token the server did not issue as-is', () => {
  it('works untouched (the control for every forgery below)', async () => {
    const response = await me(user.accessToken);
    expect(response.status).toBe(200);
    expect(response.data?.me).toEqual({ id: user.userId, email: user.email });
    // So does a token built by this file's own recipe with the server's real key.
    const { kid, key } = await serverSigningKey();
    const rebuilt = await new jose.SignJWT(claimsLike(user.accessToken))
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .sign(key);
    expect((await me(rebuilt)).data?.me?.id).toBe(user.userId);
  });

  it('is refused with alg none', async () => {
    const { kid } = jose.decodeProtectedHeader(user.accessToken);
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claimsLike(user.accessToken))}.`;
    expect401(await me(unsigned));
  });

  it('is refused when HS256-signed with the published public key as the secret', async () => {
    const { kid } = jose.decodeProtectedHeader(user.accessToken);
    const jwks = (await (await fetch(new URL('/.well-known/jwks.json', server.url))).json()) as {
      keys: jose.JWK[];
    };
    const jwk = jwks.keys.find((k) => k.kid === kid) as jose.JWK;
    const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const secrets = [
      Buffer.from(jwk.x as string, 'base64url'),
      Buffer.from(JSON.stringify(jwk)),
      Buffer.from(pem as string),
    ];
    for (const secret of secrets) {
      const forged = await new jose.SignJWT(claimsLike(user.accessToken))
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: kid as string })
        .sign(new Uint8Array(secret));
      expect401(await me(forged));
    }
  });

  it('is refused when signed by a key with an unknown kid, or by another key under our kid', async () => {
    const { kid } = jose.decodeProtectedHeader(user.accessToken);
    const { privateKey } = await jose.generateKeyPair('EdDSA');
    for (const header of [{ kid: 'not-a-known-kid' }, { kid: kid as string }]) {
      const forged = await new jose.SignJWT(claimsLike(user.accessToken))
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', ...header })
        .sign(privateKey);
      expect401(await me(forged));
    }
  });

  it('is refused when its payload or signature was tampered with', async () => {
    const [header, payload, signature] = user.accessToken.split('.') as [string, string, string];
    const other = await registerUser(server, user.tenant);
    const claims = jose.decodeJwt(user.accessToken);
    const tampered = [
      `${header}.${b64({ ...claims, role: 'ADMIN' })}.${signature}`,
      `${header}.${b64({ ...claims, sub: other.userId, sid: other.sessionId })}.${signature}`,
      `${header}.${b64({ ...claims, exp: (claims.exp ?? 0) + 86_400 })}.${signature}`,
      // A character in the middle: the last one may only carry padding bits.
      `${header}.${payload}.${signature.slice(0, 40)}${signature[40] === 'A' ? 'B' : 'A'}${signature.slice(41)}`,
      `${header}.${payload}.`,
    ];
    for (const token of tampered) expect401(await me(token));
  });

  it('is refused with a wrong typ, issuer or audience even when signed with the real key', async () => {
    const { kid, key } = await serverSigningKey();
    const variants = [
      { typ: 'JWT', claims: {} },
      { typ: 'at+jwt', claims: { iss: 'https://evil.example' } },
      { typ: 'at+jwt', claims: { aud: 'some-other-api' } },
    ];
    for (const variant of variants) {
      const forged = await new jose.SignJWT(claimsLike(user.accessToken, variant.claims))
        .setProtectedHeader({ alg: 'EdDSA', typ: variant.typ, kid })
        .sign(key);
      expect401(await me(forged));
    }
  });

  it('is refused when malformed, or sent with another scheme', async () => {
    for (const authorization of ['Bearer not.a.jwt', 'Bearer', `Basic ${user.accessToken}`, 'Bearer a b']) {
      const response = await server.gql('{ me { id } }', {}, { headers: { authorization } });
      expect401(response);
    }
  });

  it('fails even a public operation with 401, instead of answering as anonymous', async () => {
    const response = await server.gql(
      'query ($slug: String!) { tenantInfo(slug: $slug) { slug } }',
      { slug: user.tenant },
      { token: `${user.accessToken.slice(0, -4)}AAAA` },
    );
    expect401(response);
    // Without any token the same query is fine.
    const anonymous = await server.gql('query ($slug: String!) { tenantInfo(slug: $slug) { slug } }', {
      slug: user.tenant,
    });
    expect(anonymous.data?.tenantInfo).toEqual({ slug: user.tenant });
  });
});

describe('expiry', () => {
  it('accepts a token until exp and refuses it once exp plus at most 30 s have passed', async () => {
    const fresh = await registerUser(server, user.tenant);
    const exp = (jose.decodeJwt(fresh.accessToken).exp ?? 0) * 1000;
    server.clock.set(exp - 1_000);
    expect((await me(fresh.accessToken)).data?.me?.id).toBe(fresh.userId);
    server.clock.set(exp + 31_000);
    expect401(await me(fresh.accessToken));
    // The session itself lives on: refreshing gives a token that works at this time.
    const refreshed = await server.gql(
      'mutation ($input: RefreshInput!) { refresh(input: $input) { accessToken } }',
      { input: { refreshToken: fresh.refreshToken } },
    );
    expect((await me(refreshed.data?.refresh.accessToken)).data?.me?.id).toBe(fresh.userId);
  });
});
