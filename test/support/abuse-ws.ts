import type { GraphQLFormattedError } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { TestServer } from './server.js';

export interface WsResult {
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
  data?: Record<string, any> | null;
  errors?: readonly GraphQLFormattedError[];
}

/** Runs one operation over the server's WebSocket (graphql-ws), signed in with `token`. */
export function overWebSocket(server: TestServer, token: string, query: string): Promise<WsResult> {
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  return new Promise<WsResult>((resolve, reject) => {
    let result: WsResult = {};
    client.subscribe(
      { query },
      {
        next: (value) => {
          result = value as WsResult;
        },
        error: (error) => (Array.isArray(error) ? resolve({ errors: error }) : reject(error)),
        complete: () => resolve(result),
      },
    );
  }).finally(() => client.dispose());
}
