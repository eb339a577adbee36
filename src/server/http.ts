import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type Request } from 'express';
import type { Redis } from 'ioredis';
import {
  authenticate,
  bearerToken,
  type Context,
  createContextInner,
  type Services,
} from '../graphql/context.js';
import { UnauthenticatedError } from '../graphql/errors.js';
import { jwksHandler } from '../modules/keys/index.js';
import { pingRedis, withTimeout } from './redis.js';

/** The client address: the socket's, or X-Forwarded-For's only when TRUST_PROXY says so. */
export function clientIp(req: Request): string | null {
  const ip = req.ip ?? req.socket.remoteAddress ?? null;
  return ip?.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function createExpressApp(
  services: Services,
  apollo: ApolloServer<Context>,
  redis: Redis | undefined,
) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', services.config.http.trustProxy);

  // Liveness: answers as long as the process can serve HTTP; touches nothing else.
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Readiness: the dependencies answer.
  app.get('/ready', async (_req, res) => {
    const database = await withTimeout(services.database.ping(), 1_000).then(
      () => null,
      (error: Error) => error.message,
    );
    const cache = redis ? await pingRedis(redis) : null;
    const checks = {
      database: database ? 'unavailable' : 'ok',
      redis: redis ? (cache ? 'unavailable' : 'ok') : 'not configured',
    };
    const ok = !database && !cache;
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks });
  });

  app.get('/.well-known/jwks.json', jwksHandler(services.keys));

  app.use(
    '/graphql',
    cors({
      origin: '*',
      allowedHeaders: ['Content-Type', 'Authorization', 'Apollo-Require-Preflight'],
      maxAge: 600,
    }),
    express.json({ limit: '100kb' }),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        const origin = { ip: clientIp(req), userAgent: req.get('user-agent')?.slice(0, 512) ?? null };
        const token = bearerToken(req.headers.authorization);
        if (req.headers.authorization !== undefined && !token) throw httpUnauthenticated();
        const caller = token
          ? await authenticate(services, token).catch(() => Promise.reject(httpUnauthenticated()))
          : null;
        return createContextInner(services, caller, origin);
      },
    }),
  );
  return app;
}

/**
 * A bad token fails the whole request with 401, whatever the operation asked for: a client
 * holding a revoked token learns it at once and can refresh or sign in again.
 */
function httpUnauthenticated(): UnauthenticatedError {
  const error = new UnauthenticatedError();
  Object.assign(error.extensions, {
    http: { status: 401, headers: new Map([['www-authenticate', 'Bearer']]) },
  });
  return error;
}
