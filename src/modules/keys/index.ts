import type { AccessTokens } from './access-tokens.js';
import type { SigningKeyStore } from './signing-keys.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    keys: SigningKeyStore;
    tokens: AccessTokens;
  }
}

export {
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  type AccessTokenInput,
  AccessTokens,
  type AccessTokensOptions,
  type AnyTokenClaims,
  CLOCK_TOLERANCE_SECONDS,
  isServiceToken,
  type ServiceTokenClaims,
  type ServiceTokenInput,
} from './access-tokens.js';
export { JWKS_CACHE_CONTROL, jwksHandler } from './jwks.route.js';
export { KeyEncrypter, SigningKeyError } from './key-encryption.js';
export { SIGNING_KEY_LOCK } from './keys.queries.js';
export {
  type ActiveSigningKey,
  type PublicJwk,
  type SigningAlgorithm,
  SigningKeyStore,
  type SigningKeyStoreOptions,
  type VerificationKey,
} from './signing-keys.js';
