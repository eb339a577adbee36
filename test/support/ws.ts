import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * A real graphql-ws client (with the `ws` package) against a test server, as an app would use
 * it: the access token in connectionParams, no automatic retries so each close is observable.
 */

export interface Closed {
  code: number;
  reason: string;
}

export interface Socket {
  client: Client;
  /** Resolves when the server acknowledged the connection; rejects with the close if it refused. */
  connected: Promise<void>;
  /** Resolves with the close code and reason whenever the socket closes. */
  closed: Promise<Closed>;
  /** The close, which must come within `timeoutMs`. */
  closedWithin(timeoutMs?: number): Promise<Closed>;
  subscribe<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Subscription<T>;
  dispose(): Promise<void>;
}

export interface Subscription<T> {
  /** Data of every event received so far. */
  events: T[];
  /** When each event arrived (Date.now()). */
  receivedAt: number[];
  /** Errors the server sent for this subscription (it ends after one). */
  errors: { message: string; extensions?: { code?: string } }[];
  completed: boolean;
  /** The next event not yet taken by `next` (waits up to `timeoutMs`). */
  next(timeoutMs?: number): Promise<T>;
  /** Resolves once the subscription ended (error or complete), within `timeoutMs`. */
  ended(timeoutMs?: number): Promise<void>;
  unsubscribe(): void;
}

export function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/graphql`;
}

/** `headers`: extra headers of the upgrade request (e.g. X-Forwarded-For, as a proxy adds it). */
export function openSocket(httpUrl: string, token?: string, headers?: Record<string, string>): Socket {
  let acknowledge!: () => void;
  let refuse!: (closed: Closed) => void;
  let close!: (closed: Closed) => void;
  const connected = new Promise<void>((resolve, reject) => {
    acknowledge = resolve;
    refuse = reject;
  });
  connected.catch(() => {});
  const closed = new Promise<Closed>((resolve) => {
    close = resolve;
  });
  let acked = false;
  const client = createClient({
    url: wsUrl(httpUrl),
    webSocketImpl: headers
      ? class extends WebSocket {
          constructor(url: string, protocols?: string | string[]) {
            super(url, protocols, { headers });
          }
        }
      : WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    onNonLazyError: () => {},
    on: {
      connected: () => {
        acked = true;
        acknowledge();
      },
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        const result = { code, reason: String(reason) };
        if (!acked) refuse(result);
        close(result);
      },
    },
  });
  return {
    client,
    connected,
    closed,
    closedWithin: (timeoutMs = 2_000) =>
      Promise.race([
        closed,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`the socket was not closed within ${timeoutMs} ms`)),
            timeoutMs,
          ).unref(),
        ),
      ]),
    subscribe: (query, variables) => subscribe(client, query, variables),
    dispose: () => client.dispose() as Promise<void>,
  };
}

function subscribe<T>(client: Client, query: string, variables?: Record<string, unknown>): Subscription<T> {
  const events: T[] = [];
  const receivedAt: number[] = [];
  const errors: Subscription<T>['errors'] = [];
  let taken = 0;
  let completed = false;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const until = async (ready: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(...(result.errors as Subscription<T>['errors']));
        if (result.data) {
          events.push(result.data as T);
          receivedAt.push(Date.now());
        }
        wake();
      },
      error: (error) => {
        if (Array.isArray(error)) errors.push(...error);
        else errors.push({ message: String((error as { reason?: string }).reason ?? error) });
        completed = true;
        wake();
      },
      complete: () => {
        completed = true;
        wake();
      },
    },
  );
  return {
    events,
    receivedAt,
    errors,
    get completed() {
      return completed;
    },
    async next(timeoutMs = 3_000) {
      await until(
        () => events.length > taken || (completed && events.length === taken),
        timeoutMs,
        'an event',
      );
      if (events.length === taken) throw new Error(`the subscription ended: ${JSON.stringify(errors)}`);
      taken += 1;
      return events[taken - 1] as T;
    },
    ended: (timeoutMs = 3_000) => until(() => completed, timeoutMs, 'the subscription to end'),
    unsubscribe,
  };
}

/** Polls `check` until it returns true, for up to `timeoutMs` (bounded waits only). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3_000,
  what = 'a condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
