import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Registry } from 'prom-client';

const digest = (value: string) => createHash('sha256').update(value).digest();

export interface MetricsAccess {
  /** The Bearer token a scraper must send (METRICS_TOKEN). */
  token: string | undefined;
  /**
   * Without a token, refuse everyone instead of serving openly. Production sets this: metrics
   * describe the traffic of every tenant (sign-ins, errors, timings), which is nothing to publish.
   */
  closedWithoutToken: boolean;
}

/**
 * GET /metrics in Prometheus' text format. With a token configured (METRICS_TOKEN) the scraper
 * must send `Authorization: Bearer <token>`; anything else is 401. Without one it is open, except
 * in production, where it then answers 401 to everyone.
 */
export function metricsHandler(registry: Registry, access: MetricsAccess): RequestHandler {
  const expected = access.token === undefined ? undefined : digest(access.token);
  const closed = expected === undefined && access.closedWithoutToken;
  const authorized = (req: Request) => {
    if (closed) return false;
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
        .send(closed ? 'Unauthorized: metrics need METRICS_TOKEN in production\n' : 'Unauthorized\n');
      return;
    }
    res.type(registry.contentType).send(await registry.metrics());
  };
}
