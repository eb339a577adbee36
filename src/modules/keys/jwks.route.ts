import type { Request, Response } from 'express';
import type { SigningKeyStore } from './signing-keys.js';

/**
 * GET /.well-known/jwks.json. Five minutes of caching keeps verifiers off our back while letting
 * a rotated key reach them well within one access-token lifetime; verifiers that meet an unknown
 * kid should refetch anyway (jose's createRemoteJWKSet does).
 */
export const JWKS_CACHE_CONTROL = 'public, max-age=300, stale-while-revalidate=60';

export function jwksHandler(keys: SigningKeyStore): (req: Request, res: Response) => void {
  return (_req, res) => {
    res.set('Cache-Control', JWKS_CACHE_CONTROL);
    res.type('application/json');
    res.send(JSON.stringify(keys.jwks()));
  };
}
