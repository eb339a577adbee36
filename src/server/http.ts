import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import {
  authenticate,
  bearerToken,
  type Context,
  createContextInner,
  type Services,
} from '../graphql/context.js';
import { ServiceUnavailableError, UnauthenticatedError } from '../graphql/errors.js';
import { codesOf, RequestLog } from '../graphql/plugins.js';
import { withoutRedaction } from '../lib/logger.js';
import { jwksHandler } from '../modules/keys/index.js';
import type { GraphQLConsole } from './console.js';
import { pingRedis, type RedisClient, withTimeout } from './redis.js';

/** The client address: the socket's, or X-Forwarded-For's only when TRUST_PROXY says so. */
export function clientIp(req: Request): string | null {
  return withoutIpv4Prefix(req.ip ?? req.socket.remoteAddress ?? null);
}

/** The socket's address: what req.ip comes to, without parsing X-Forwarded-For, when no proxy is trusted. */
function socketIp(req: Request): string | null {
  return withoutIpv4Prefix(req.socket.remoteAddress ?? null);
}

function withoutIpv4Prefix(ip: string | null): string | null {
  return ip?.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/**
 * Middleware run one after another as a single handler: an express router layer per middleware
 * costs every request a path match and a URL rewrite. Errors, thrown or rejected, go to `next`.
 */
function inSequence(handlers: RequestHandler[]): RequestHandler {
  return (req, res, next) => {
    let index = 0;
    const step = (error?: unknown): void => {
      const handler = handlers[index++];
      if ((error !== undefined && error !== null) || !handler) {
        next(error ?? undefined);
        return;
      }
      try {
        const result: unknown = handler(req, res, step);
        if (result instanceof Promise) result.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };
}

/** Runs an express handler that may return a promise; a rejection goes to `next`. */
function runHandler(handler: RequestHandler, req: Request, res: Response, next: NextFunction): void {
  try {
    const result: unknown = handler(req, res, next);
    if (result instanceof Promise) result.catch(next);
  } catch (thrown) {
    next(thrown);
  }
}

/** Routes built elsewhere (src/modules/metrics, src/server/console.ts). */
export interface ExtraRoutes {
  /** GET /metrics. */
  metrics?: RequestHandler;
  /** The GraphiQL console: GET /graphql for browsers and its files below /graphql/console/. */
  console?: GraphQLConsole;
  /** OAuth metadata, token, introspection and revocation (src/modules/service-accounts). */
  oauth?: (ipOf: (req: Request) => string | null) => RequestHandler;
}

export function createExpressApp(
  services: Services,
  apollo: ApolloServer<Context>,
  redis: RedisClient | undefined,
  requestLog: RequestLog = new RequestLog(),
  routes: ExtraRoutes = {},
) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', services.config.http.trustProxy);

  // One log line per GraphQL request, whatever answers it (see RequestLog).
  const accessLog = withoutRedaction(services.logger);
  const ipOf = services.config.http.trustProxy === false ? socketIp : clientIp;
  const logRequest: RequestHandler = (req, res, next) => {
    const requestId = randomUUID();
    const started = performance.now();
    const ip = ipOf(req);
    res.locals.clientIp = ip;
    const details = requestLog.open(requestId);
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    // Answers carry tokens and personal data: no shared or browser cache may keep them.
    res.setHeader('cache-control', 'no-store');
    // Refusals made before GraphQL runs: their codes come from the body that is sent.
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      if (details.errorCodes === undefined && res.statusCode >= 400) details.errorCodes = errorCodesIn(body);
      return send(body);
    };
    res.on('close', () => {
      requestLog.close(requestId);
      accessLog.info(
        {
          requestId,
          method: req.method,
          operationName: details.operationName ?? null,
          tenantId: details.tenantId ?? null,
          userId: details.userId ?? null,
          ip,
          status: res.statusCode,
          durationMs: Math.round((performance.now() - started) * 100) / 100,
          errorCodes: details.errorCodes?.length ? details.errorCodes : undefined,
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'graphql request',
      );
    });
    next();
  };
  const corsHeaders = cors({
    origin: '*',
    allowedHeaders: ['Content-Type', 'Authorization', 'Apollo-Require-Preflight'],
    // A browser app on another origin may read when to retry, and which request to quote.
    exposedHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600,
  });
  const serveGraphQL = inSequence([
    logRequest,
    // Only browsers read CORS headers, and a browser names its origin on every request that needs
    // them; other services' requests skip the work.
    (req, res, next) => (req.headers.origin === undefined ? next() : corsHeaders(req, res, next)),
    express.json({ limit: '100kb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const origin = {
          ip: res.locals.clientIp as string | null,
          userAgent: req.get('user-agent')?.slice(0, 512) ?? null,
        };
        const token = bearerToken(req.headers.authorization);
        if (req.headers.authorization !== undefined && !token) throw httpUnauthenticated();
        const caller = token
          ? await authenticate(services, token).catch((error: unknown) =>
              // A token we refuse is 401; not being able to check it (PostgreSQL down) is not.
              Promise.reject(
                error instanceof UnauthenticatedError
                  ? httpUnauthenticated()
                  : httpUnavailable(services, error),
              ),
            )
          : null;
        return createContextInner(services, caller, origin, res.locals.requestId as string | undefined);
      },
    }),
  ]);

  // Every request to /graphql meets this one handler, which picks by method and path: no other route
  // may answer /graphql. (A GET route for the console once made express answer CORS preflights,
  // OPTIONS /graphql, by itself: 200 without CORS headers, so browsers on other origins were blocked.)
  // It comes first: GraphQL over POST is nearly all of the traffic, and every router layer a request
  // passes on its way costs it time.
  const graphqlConsole = routes.console;
  const graphqlEndpoint: RequestHandler = (req, res, next) => {
    if (req.method === 'POST' || graphqlConsole === undefined) return serveGraphQL(req, res, next);
    if (req.path.startsWith('/console/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      return runHandler(graphqlConsole.asset, req, res, next);
    }
    if (graphqlConsole.wantsPage(req)) return runHandler(graphqlConsole.page, req, res, next);
    // Queries over GET, CORS preflights (OPTIONS), refusals of other methods.
    return serveGraphQL(req, res, next);
  };
  app.use('/graphql', graphqlEndpoint);

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

  if (routes.metrics) app.get('/metrics', routes.metrics);
  if (routes.oauth) app.use(routes.oauth(ipOf));
  // Errors before GraphQL runs (an oversized or malformed body) still answer in the contract's shape.
  app.use(
    (error: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(error);
      const tooLarge = error.type === 'entity.too.large';
      const status = tooLarge ? 413 : (error.status ?? 500);
      const message = tooLarge
        ? 'The request body is too large.'
        : status < 500
          ? 'The request body is not valid JSON.'
          : 'Internal server error.';
      const code = tooLarge ? 'QUERY_REJECTED' : status < 500 ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR';
      if (status >= 500) services.logger.error({ err: error }, 'unexpected HTTP error');
      res.status(status).json({ errors: [{ message, extensions: { code } }] });
    },
  );
  return app;
}

/** The contract codes in a JSON error body, e.g. one sent before GraphQL ran. */
function errorCodesIn(body: unknown): string[] | undefined {
  try {
    const parsed = typeof body === 'string' ? JSON.parse(body) : body;
    const errors = (parsed as { errors?: unknown } | null)?.errors;
    return Array.isArray(errors) ? codesOf(errors) : undefined;
  } catch {
    return undefined;
  }
}

/** The token could not be checked (the database did not answer): 503, try again shortly. */
function httpUnavailable(services: Services, cause: unknown): ServiceUnavailableError {
  services.logger.warn({ err: cause }, 'could not check an access token');
  const error = new ServiceUnavailableError();
  Object.assign(error.extensions, {
    http: { status: 503, headers: new Map([['retry-after', '2']]) },
  });
  return error;
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
