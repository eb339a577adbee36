import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Registry } from 'prom-client';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * GET /metrics in Prometheus' text format. With a token configured (METRICS_TOKEN) the scraper
 * must send `Authorization: Bearer <token>`; anything else is 401.
 */
export function metricsHandler(registry: Registry, token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : digest(token);
  const authorized = (req: Request) => {
    if (!expected) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    // Compared as digests: equal length, and no timing hint about the token's prefix.
    return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
  };
  return async (req: Request, res: Response) => {
    res.set('cache-control', 'no-store');
    if (!authorized(req)) {
      res
        .status(401)
        .set('www-authenticate', 'Bearer realm="metrics"')
        .type('text/plain')
        .send('Unauthorized\n');
      return;
    }
    res.type(registry.contentType).send(await registry.metrics());
  };
}
