import { hash, randomUUID } from 'node:crypto';
import { type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../../kernel/clock.js';
import { UnauthenticatedError } from '../../kernel/errors.js';
import { LruCache } from '../../kernel/lru.js';
import type { SigningKeyStore } from './signing-keys.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Seconds of clock skew tolerated on exp, both by jose and by the verified-token cache. */
export const CLOCK_TOLERANCE_SECONDS = 30;
const DEFAULT_CACHE_SIZE = 10_000;
/** Far above any token we issue; bounds the hashing and parsing work an attacker can cause. */
const MAX_TOKEN_LENGTH = 8192;

export interface AccessTokenClaims {
  sub: string;
  tid: string;
  role: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  /** How the session was authenticated (RFC 8176), e.g. ["pwd"] or ["pwd", "otp", "mfa"]. */
  amr?: readonly string[];
}

/**
 * A service account's access token (client credentials, RFC 9068): no session and no role, but
 * the client, its scopes, and the client secret it was issued against (`csi`), so that rotating
 * that secret out ends the token too.
 */
export interface ServiceTokenClaims {
  sub: string;
  tid: string;
  client_id: string;
  scope: string;
  csi: string;
  jti: string;
  iat: number;
  exp: number;
}

export type AnyTokenClaims = AccessTokenClaims | ServiceTokenClaims;

export function isServiceToken(claims: Readonly<AnyTokenClaims>): claims is Readonly<ServiceTokenClaims> {
  return 'client_id' in claims;
}

export interface ServiceTokenInput {
  sub: string;
  tid: string;
  clientId: string;
  scope: string;
  secretId: string;
}

export interface AccessTokenInput {
  sub: string;
  tid: string;
  role: string;
  sid: string;
  amr?: readonly string[];
}

export interface AccessTokensOptions {
  issuer: string;
  audience: string;
  clock: Clock;
  /** Verified tokens remembered until their exp; 0 disables the cache. */
  cacheSize?: number;
}

const STRING_CLAIMS = ['sub', 'tid', 'role', 'sid', 'jti'] as const;
const SERVICE_STRING_CLAIMS = ['sub', 'tid', 'client_id', 'csi', 'jti'] as const;

export class AccessTokens {
  readonly #keys: SigningKeyStore;
  readonly #options: AccessTokensOptions;
  readonly #verified: LruCache<string, { claims: Readonly<AnyTokenClaims>; kid: string }>;

  constructor(keys: SigningKeyStore, options: AccessTokensOptions) {
    this.#keys = keys;
    this.#options = options;
    this.#verified = new LruCache(options.cacheSize ?? DEFAULT_CACHE_SIZE);
  }

  async sign(
    claims: AccessTokenInput,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: Date; jti: string }> {
    const { kid, alg, privateKey } = this.#keys.active();
    const iat = Math.floor(this.#options.clock.now().getTime() / 1000);
    const exp = iat + ttlSeconds;
    const jti = randomUUID();
    const token = await new SignJWT({
      tid: claims.tid,
      role: claims.role,
      sid: claims.sid,
      ...(claims.amr ? { amr: [...claims.amr] } : {}),
    })
      .setProtectedHeader({ alg, kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.#options.issuer)
      .setAudience(this.#options.audience)
      .setSubject(claims.sub)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(privateKey);
    return { token, expiresAt: new Date(exp * 1000), jti };
  }

  /** Signs a service account's access token (client credentials). */
  async signService(
    claims: ServiceTokenInput,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: Date; jti: string }> {
    const { kid, alg, privateKey } = this.#keys.active();
    const iat = Math.floor(this.#options.clock.now().getTime() / 1000);
    const exp = iat + ttlSeconds;
    const jti = randomUUID();
    const token = await new SignJWT({
      tid: claims.tid,
      client_id: claims.clientId,
      scope: claims.scope,
      csi: claims.secretId,
    })
      .setProtectedHeader({ alg, kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.#options.issuer)
      .setAudience(this.#options.audience)
      .setSubject(claims.sub)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(privateKey);
    return { token, expiresAt: new Date(exp * 1000), jti };
  }

  get issuer(): string {
    return this.#options.issuer;
  }

  get audience(): string {
    return this.#options.audience;
  }

  /** A user's token this process verified before (see `rememberedAny`). */
  remembered(token: string): Readonly<AccessTokenClaims> | undefined {
    const claims = this.rememberedAny(token);
    return claims && !isServiceToken(claims) ? (claims as Readonly<AccessTokenClaims>) : undefined;
  }

  /** A user's token: its claims, or UnauthenticatedError (a service's token is refused here). */
  async verify(token: string): Promise<Readonly<AccessTokenClaims>> {
    const claims = await this.verifyAny(token);
    if (isServiceToken(claims)) throw new UnauthenticatedError();
    return claims as Readonly<AccessTokenClaims>;
  }

  /**
   * The claims of a token this process verified before and that is still valid, without waiting
   * on anything; undefined otherwise (then `verifyAny` checks it).
   */
  rememberedAny(token: string): Readonly<AnyTokenClaims> | undefined {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const cacheKey = cacheKeyOf(token);
    const cached = this.#verified.get(cacheKey);
    if (!cached) return undefined;
    // The kid check makes a key withdrawn from the database (and reloaded) end its cached tokens too.
    const live = this.#options.clock.now().getTime() < (cached.claims.exp + CLOCK_TOLERANCE_SECONDS) * 1000;
    if (live && this.#keys.verificationKey(cached.kid)) return cached.claims;
    this.#verified.delete(cacheKey);
    return undefined;
  }

  /** Resolves a user's or a service's token claims, or throws UnauthenticatedError whatever went wrong. */
  async verifyAny(token: string): Promise<Readonly<AnyTokenClaims>> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new UnauthenticatedError();
    }
    const remembered = this.rememberedAny(token);
    if (remembered) return remembered;
    const now = this.#options.clock.now();
    const cacheKey = cacheKeyOf(token);

    let verified: { payload: JWTPayload; kid: string };
    try {
      verified = await this.#verifySignedToken(token, now);
    } catch {
      // One generic answer: the reason would help an attacker more than a client.
      throw new UnauthenticatedError();
    }

    const claims = toClaims(verified.payload);
    if (!claims) throw new UnauthenticatedError();
    // Frozen: every request with this token shares the one object.
    const frozen = Object.freeze(claims);
    this.#verified.set(cacheKey, { claims: frozen, kid: verified.kid });
    return frozen;
  }

  async #verifySignedToken(token: string, now: Date): Promise<{ payload: JWTPayload; kid: string }> {
    const { payload, protectedHeader } = await jwtVerify(
      token,
      async (header) => {
        const key =
          typeof header.kid === 'string' ? await this.#keys.findVerificationKey(header.kid) : undefined;
        if (!key || key.alg !== header.alg) throw new Error('no matching key');
        return key.key;
      },
      {
        // Pinned to the algorithms of our own keys: never `none`, never an HMAC keyed with a public key.
        algorithms: this.#keys.algorithms(),
        typ: ACCESS_TOKEN_TYPE,
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
        requiredClaims: ['iat', 'exp', 'sub', 'tid', 'jti'],
      },
    );
    return { payload, kid: protectedHeader.kid ?? '' };
  }
}

/** A digest, so the cache never holds bearer tokens a heap dump could replay. */
function cacheKeyOf(token: string): string {
  return hash('sha256', token, 'base64url');
}

function toClaims(payload: JWTPayload): AnyTokenClaims | undefined {
  if (payload.client_id !== undefined) return toServiceClaims(payload);
  for (const name of STRING_CLAIMS) {
    const value = payload[name];
    if (typeof value !== 'string' || value.length === 0) return undefined;
  }
  const { iat, exp, amr } = payload;
  if (!Number.isFinite(iat) || !Number.isFinite(exp)) return undefined;
  return {
    ...(Array.isArray(amr) && amr.every((v) => typeof v === 'string') ? { amr: amr as string[] } : {}),
    sub: payload.sub as string,
    tid: payload.tid as string,
    role: payload.role as string,
    sid: payload.sid as string,
    jti: payload.jti as string,
    iat: iat as number,
    exp: exp as number,
  };
}

function toServiceClaims(payload: JWTPayload): ServiceTokenClaims | undefined {
  for (const name of SERVICE_STRING_CLAIMS) {
    const value = payload[name];
    if (typeof value !== 'string' || value.length === 0) return undefined;
  }
  // A service's token never carries a session or a role: one that does is not ours.
  if (payload.sid !== undefined || payload.role !== undefined || typeof payload.scope !== 'string')
    return undefined;
  const { iat, exp } = payload;
  if (!Number.isFinite(iat) || !Number.isFinite(exp)) return undefined;
  return {
    sub: payload.sub as string,
    tid: payload.tid as string,
    client_id: payload.client_id as string,
    scope: payload.scope,
    csi: payload.csi as string,
    jti: payload.jti as string,
    iat: iat as number,
    exp: exp as number,
  };
}
