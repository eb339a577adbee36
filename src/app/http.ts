import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { pingRedis, type RedisClient, withTimeout } from '../kernel/redis.js';
import { jwksHandler } from '../modules/keys/index.js';
import {
  type OAuthRouteDeps,
  oauthEndpoints,
  oauthRouter,
} from '../modules/service-accounts/oauth.routes.js';
import type { GraphQLConsole } from './console.js';
import type { Context, Deps } from './context.js';
import {
  clientIpOf,
  createGraphQLHandler,
  isGraphQLPath,
  type RequestListener,
  sendHttpError,
} from './graphql-http.js';
import { RequestLog } from './plugins.js';

/** Runs an express handler that may return a promise; a rejection goes to `next`. */
function runHandler(handler: RequestHandler, req: Request, res: Response, next: NextFunction): void {
  try {
    const result: unknown = handler(req, res, next);
    if (result instanceof Promise) result.catch(next);
  } catch (thrown) {
    next(thrown);
  }
}

/** Routes built elsewhere (src/modules/metrics, src/app/console.ts). */
export interface ExtraRoutes {
  /** GET /metrics. */
  metrics?: RequestHandler;
  /** The GraphiQL console: GET /graphql for browsers and its files below /graphql/console/. */
  console?: GraphQLConsole;
  /** What the OAuth metadata, token, introspection and revocation endpoints need (src/modules/service-accounts). */
  oauth?: (ipOf: (req: IncomingMessage) => string | null) => OAuthRouteDeps;
}

/**
 * The HTTP server's request listener. GraphQL requests to /graphql, nearly all of the traffic, go
 * straight to the GraphQL handler (graphql-http.ts) on Node's own request and response, and so do
 * the OAuth endpoints services call on every token (POST /oauth/token, /oauth/introspect,
 * /oauth/revoke): no router sits in front of them, and no route added to express can ever answer
 * them instead. Everything else (the console, /health, /ready, /metrics, /.well-known/*, other
 * spellings of those paths) is express.
 */
export function createRequestListener(
  services: Deps,
  apollo: ApolloServer<Context>,
  redis: RedisClient | undefined,
  requestLog: RequestLog = new RequestLog(),
  routes: ExtraRoutes = {},
): RequestListener {
  const ipOf = clientIpOf(services.config.http.trustProxy);
  const graphql = createGraphQLHandler({ services, apollo, requestLog, ipOf });
  const oauthDeps = routes.oauth?.(ipOf);
  const oauth = oauthDeps && oauthEndpoints(oauthDeps, (res, error) => sendHttpError(services, res, error));
  const app = createExpressApp(services, graphql, redis, routes, oauthDeps);
  const graphqlConsole = routes.console;
  return (req, res) => {
    // A browser navigating to /graphql gets the console page, which express serves.
    if (isGraphQLPath(req.url) && (req.method === 'POST' || !graphqlConsole?.wantsPage(req))) {
      graphql(req, res);
      return;
    }
    if (oauth?.(req, res)) return;
    app(req, res);
  };
}

function createExpressApp(
  services: Deps,
  graphql: RequestListener,
  redis: RedisClient | undefined,
  routes: ExtraRoutes,
  oauthDeps: OAuthRouteDeps | undefined,
) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', services.config.http.trustProxy);

  // The console's page and files, and the GraphQL endpoint under the other spellings express
  // matches (/graphql/, /GraphQL, ...): one handler picks by method and path, so no other route
  // may answer below /graphql. (A GET route for the console once made express answer CORS
  // preflights, OPTIONS /graphql, by itself: 200 without CORS headers, so browsers on other
  // origins were blocked.)
  const graphqlConsole = routes.console;
  const graphqlEndpoint: RequestHandler = (req, res, next) => {
    if (req.method === 'POST' || graphqlConsole === undefined) return graphql(req, res);
    if (req.path.startsWith('/console/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      return runHandler(graphqlConsole.asset, req, res, next);
    }
    if (graphqlConsole.wantsPage(req)) return runHandler(graphqlConsole.page, req, res, next);
    // Queries over GET, CORS preflights (OPTIONS), refusals of other methods.
    return graphql(req, res);
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
  if (oauthDeps) app.use(oauthRouter(oauthDeps));
  // Errors before a handler runs (an oversized or malformed form body) still answer in the contract's shape.
  app.use((error: Error, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    sendHttpError(services, res, error);
  });
  return app;
}
