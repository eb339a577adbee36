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
import { formatError } from '../graphql/errors.js';

type ConnectionExtra = {
  caller?: Caller;
  ip?: string | null;
  userAgent?: string | null;
};

/**
 * GraphQL over WebSocket on the same path as HTTP. A connection must present a valid access
 * token in `connectionParams.authorization` ("Bearer …"); without one it is refused before
 * anything can be subscribed.
 */
export function createWebSocketServer(httpServer: Server, schema: GraphQLSchema, services: Services) {
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: 100 * 1024 });
  const cleanup = useServer<Record<string, unknown>, ConnectionExtra>(
    {
      schema,
      onConnect: async (ctx) => {
        const token = bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        if (!token) return false;
        try {
          ctx.extra.caller = await authenticate(services, token);
        } catch {
          return false;
        }
        const request = (
          ctx.extra as unknown as {
            request?: { socket?: { remoteAddress?: string }; headers?: Record<string, string> };
          }
        ).request;
        ctx.extra.ip = request?.socket?.remoteAddress?.replace(/^::ffff:/, '') ?? null;
        ctx.extra.userAgent = request?.headers?.['user-agent']?.slice(0, 512) ?? null;
        return true;
      },
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
    async close() {
      for (const client of wsServer.clients) client.close(1001, 'Server shutting down');
      await cleanup.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
