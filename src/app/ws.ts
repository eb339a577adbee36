import type { Server } from 'node:http';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { UnauthenticatedError } from '../kernel/errors.js';
import { type OperationLimits, prepareOperation } from '../modules/abuse/query-limits.js';
import {
  authenticate,
  bearerToken,
  type Caller,
  type Context,
  createContextInner,
  type Deps,
  type RequestOrigin,
} from './context.js';
import { clientIpOf } from './graphql-http.js';
import { auditDenials } from './plugins.js';
import { CLOSE, ConnectionWatch } from './ws-connections.js';

/**
 * The caller a token proves now. A service's carries `renew`, so that its subscriptions can
 * check the same credential again before every event (a person's re-checks read their session).
 */
async function callerOf(services: Deps, token: string): Promise<Caller> {
  const caller = await authenticate(services, token);
  if (caller.kind !== 'service') return caller;
  return { ...caller, renew: () => callerOf(services, token) };
}

type ConnectionExtra = {
  /** The access token the connection was opened with; every operation is authenticated by it. */
  token?: string;
  origin?: RequestOrigin;
};

/** The one error formatter of the service (HTTP uses the same): coded, masked, logged once. */
export type ErrorFormatter = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * GraphQL over WebSocket on the same path as HTTP. A connection must present a valid access
 * token (a person's, or a service's token or API key) in `connectionParams.authorization`
 * ("Bearer …"); without one it is refused (4401)
 * before anything can be subscribed, and while Redis is unreachable every connection is refused
 * or closed with 1013 (see ConnectionWatch and the README's close codes).
 *
 * Every operation on an open connection is then authenticated again, exactly as an HTTP request
 * is: the token still valid, its session still active, the user still active, and the role
 * read now. The operation runs with that caller, fixed for its life; a connection whose session
 * or user no longer passes is answered UNAUTHENTICATED and closed.
 */
export function createWebSocketServer(
  httpServer: Server,
  schema: GraphQLSchema,
  services: Deps,
  /** The HTTP endpoint's operation limits, so that the WebSocket is no way around them. */
  limits: OperationLimits,
  formatError: ErrorFormatter,
) {
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: 100 * 1024 });
  const watch = new ConnectionWatch(services);
  const ipOf = clientIpOf(services.config.http.trustProxy);
  const refuse = (
    socket: { close(code: number, reason: string): void },
    close: { code: number; reason: string },
  ) => {
    socket.close(close.code, close.reason);
    return false;
  };
  const format = (errors: readonly GraphQLError[]) =>
    errors.map((error) => formatError(error.toJSON(), error));

  const cleanup = useServer<Record<string, unknown>, ConnectionExtra>(
    {
      schema,
      onConnect: async (ctx) => {
        if (!services.events.available) return refuse(ctx.extra.socket, CLOSE.unavailable);
        const token = bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        if (!token) return refuse(ctx.extra.socket, CLOSE.unauthorized);
        let caller: Caller;
        try {
          caller = await callerOf(services, token);
        } catch (error) {
          // A token we cannot accept, or a database we cannot ask right now.
          return refuse(
            ctx.extra.socket,
            error instanceof UnauthenticatedError ? CLOSE.unauthorized : CLOSE.unavailable,
          );
        }
        watch.add(ctx.extra.socket, caller);
        const { request } = ctx.extra;
        ctx.extra.token = token;
        // The client's address as HTTP requests take it: X-Forwarded-For only under TRUST_PROXY.
        ctx.extra.origin = {
          ip: ipOf(request),
          userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
        };
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { socket, token } = ctx.extra;
        let caller: Caller;
        try {
          if (!token) throw new UnauthenticatedError();
          caller = await callerOf(services, token);
        } catch (error) {
          if (error instanceof UnauthenticatedError) {
            // The session ended, the user was suspended or the token expired since the
            // connection opened: this operation is refused, then the connection is closed.
            const close = watch.tokenExpired(socket) ? CLOSE.tokenExpired : CLOSE.sessionEnded;
            setImmediate(() => watch.closeNow(socket, close));
            return [error];
          }
          return [new GraphQLError('unavailable', { originalError: error as Error })];
        }
        watch.update(socket, caller);
        const prepared = prepareOperation(schema, payload, limits);
        if (!('document' in prepared)) return prepared;
        return {
          ...prepared,
          contextValue: createContextInner(
            services,
            caller,
            ctx.extra.origin ?? { ip: null, userAgent: null },
          ),
        };
      },
      onNext: async (_ctx, _id, _payload, args, result) => {
        if (!result.errors) return undefined;
        const errors = format(result.errors);
        // Refusals are audited as over HTTP (one row per caller and field a minute).
        await auditDenials(services, args.contextValue as Context | undefined, errors);
        return { ...result, errors };
      },
      onError: (_ctx, _id, _payload, errors) => format(errors),
    },
    wsServer,
  );
  return {
    wsServer,
    watch,
    async close() {
      watch.close();
      for (const client of wsServer.clients) client.close(1001, 'Server shutting down');
      await cleanup.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
