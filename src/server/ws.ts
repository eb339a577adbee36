import type { Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import {
  authenticate,
  bearerToken,
  type Caller,
  createContextInner,
  type Services,
} from '../graphql/context.js';
import { formatError, UnauthenticatedError } from '../graphql/errors.js';
import { type OperationLimits, prepareOperation } from '../modules/abuse/query-limits.js';
import { CLOSE, ConnectionWatch } from './ws-connections.js';

type ConnectionExtra = {
  caller?: Caller;
  ip?: string | null;
  userAgent?: string | null;
};

/**
 * GraphQL over WebSocket on the same path as HTTP. A connection must present a valid access
 * token in `connectionParams.authorization` ("Bearer …"); without one it is refused (4401)
 * before anything can be subscribed, and while Redis is unreachable every connection is refused
 * or closed with 1013 (see ConnectionWatch and the README's close codes).
 */
export function createWebSocketServer(
  httpServer: Server,
  schema: GraphQLSchema,
  services: Services,
  /** The HTTP endpoint's operation limits, so that the WebSocket is no way around them. */
  limits?: OperationLimits,
) {
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: 100 * 1024 });
  const watch = new ConnectionWatch(services);
  const refuse = (
    socket: { close(code: number, reason: string): void },
    close: { code: number; reason: string },
  ) => {
    socket.close(close.code, close.reason);
    return false;
  };
  const cleanup = useServer<Record<string, unknown>, ConnectionExtra>(
    {
      schema,
      onConnect: async (ctx) => {
        if (!services.events.available) return refuse(ctx.extra.socket, CLOSE.unavailable);
        const token = bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        if (!token) return refuse(ctx.extra.socket, CLOSE.unauthorized);
        try {
          ctx.extra.caller = await authenticate(services, token);
        } catch (error) {
          // A token we cannot accept, or a database we cannot ask right now.
          return refuse(
            ctx.extra.socket,
            error instanceof UnauthenticatedError ? CLOSE.unauthorized : CLOSE.unavailable,
          );
        }
        watch.add(ctx.extra.socket, ctx.extra.caller);
        const request = (
          ctx.extra as unknown as {
            request?: { socket?: { remoteAddress?: string }; headers?: Record<string, string> };
          }
        ).request;
        ctx.extra.ip = request?.socket?.remoteAddress?.replace(/^::ffff:/, '') ?? null;
        ctx.extra.userAgent = request?.headers?.['user-agent']?.slice(0, 512) ?? null;
        return true;
      },
      onSubscribe: limits ? (_ctx, _id, payload) => prepareOperation(schema, payload, limits) : undefined,
      context: (ctx) =>
        createContextInner(services, ctx.extra.caller ?? null, {
          ip: ctx.extra.ip ?? null,
          userAgent: ctx.extra.userAgent ?? null,
        }),
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((error) => {
          const formatted = formatError(error.toJSON(), error, {
            maskUnexpected: services.config.isProduction,
          });
          return Object.assign(error, { extensions: formatted.extensions, message: formatted.message });
        }),
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
