import { type CryptoKey, calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import { SigningKeyError } from './key-encryption.js';

export type SigningAlgorithm = 'EdDSA' | 'ES256';

/** What /.well-known/jwks.json publishes for one key. */
export interface PublicJwk {
  kty: 'OKP' | 'EC';
  crv: string;
  x: string;
  y?: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
}

export interface PinnedKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: PublicJwk;
}

const CURVES: Record<SigningAlgorithm, { kty: PublicJwk['kty']; crv: string }> = {
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

export function signingAlgorithm(value: string, kid: string): SigningAlgorithm {
  if (value === 'EdDSA' || value === 'ES256') return value;
  throw new SigningKeyError(`Signing key ${kid} has an unsupported algorithm ${JSON.stringify(value)}`);
}

/** Whitelists the public members: whatever the source held, `d` cannot leak through here. */
export function publicJwk(jwk: JWK, kid: string, alg: SigningAlgorithm): PublicJwk {
  const { kty, crv } = CURVES[alg];
  if (jwk.kty !== kty || jwk.crv !== crv || !jwk.x || (alg === 'ES256' && !jwk.y)) {
    throw new SigningKeyError(`Signing key ${kid}: the public key is not a ${crv} ${kty} JWK`);
  }
  const out: PublicJwk = { kty, crv, x: jwk.x, kid, alg, use: 'sig' };
  if (alg === 'ES256') out.y = jwk.y;
  return out;
}

/** Imports only the key material: jose honours `key_ops` and `ext`, which a stored JWK may carry. */
export async function importKey(jwk: JWK, alg: SigningAlgorithm, isPrivate: boolean): Promise<CryptoKey> {
  const { kty, crv, x, y, d } = jwk;
  const material: JWK = { kty, crv, x, ...(y ? { y } : {}), ...(isPrivate ? { d } : {}) };
  const key = await importJWK(material, alg, { extractable: false });
  if (key instanceof Uint8Array) throw new SigningKeyError('Expected an asymmetric key');
  return key;
}

/** Parses SIGNING_KEY_JWK. Errors never include the value or a parser message quoting it. */
export async function importPinnedKey(json: string): Promise<PinnedKey> {
  const problem = 'SIGNING_KEY_JWK must be a private JWK: Ed25519 (kty OKP) or P-256 (kty EC, for ES256)';
  let jwk: JWK;
  try {
    jwk = JSON.parse(json) as JWK;
  } catch {
    throw new SigningKeyError(`${problem}; it is not valid JSON`);
  }
  if (typeof jwk !== 'object' || jwk === null) throw new SigningKeyError(problem);
  const alg = (Object.keys(CURVES) as SigningAlgorithm[]).find(
    (candidate) => CURVES[candidate].kty === jwk.kty && CURVES[candidate].crv === jwk.crv,
  );
  const algMatches = jwk.alg === undefined || jwk.alg === alg || (alg === 'EdDSA' && jwk.alg === 'Ed25519');
  if (!alg || typeof jwk.d !== 'string' || !algMatches) throw new SigningKeyError(problem);
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : await calculateJwkThumbprint(jwk);
  const pub = publicJwk(jwk, kid, alg);
  try {
    return {
      kid,
      alg,
      privateKey: await importKey(jwk, alg, true),
      publicKey: await importKey(pub, alg, false),
      jwk: pub,
    };
  } catch {
    throw new SigningKeyError(`${problem}; its key material does not import`);
  }
}
