import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parse as parseUrl } from 'node:url';
import { type ApolloServer, HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import bodyParser from 'body-parser';
import cors from 'cors';
import proxyAddr from 'proxy-addr';
import { ServiceUnavailableError, UnauthenticatedError } from '../kernel/errors.js';
import { withoutRedaction } from '../kernel/logger.js';
import { authenticate, bearerToken, type Context, createContextInner, type Deps } from './context.js';
import { codesOf, type RequestLog, type RequestLogDetails } from './plugins.js';

/**
 * POST /graphql (and GET queries, CORS preflights, refusals of other methods) on Node's own HTTP
 * objects: no framework between the socket and Apollo Server, as in Apollo's standalone server.
 * What express did on this path is done here with the same libraries (body-parser, cors,
 * proxy-addr), so answers are the same: request id, one access-log line per request, CORS for
 * browsers, the body limit and its refusals in the contract's shape, 401/503 for a token that is
 * bad or cannot be checked.
 */

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Largest JSON body accepted; a larger one is refused with 413 before it is read to the end. */
const BODY_LIMIT = '100kb';

/** Whether a request target names the GraphQL endpoint itself: /graphql, with or without a query. */
export function isGraphQLPath(url: string | undefined): boolean {
  return url === '/graphql' || url?.startsWith('/graphql?') === true;
}

/**
 * The client's address: the socket's, or the one X-Forwarded-For names when TRUST_PROXY says the
 * hops in between are trusted. Same values as express's `trust proxy` setting and `req.ip`.
 */
export function clientIpOf(trustProxy: boolean | number | string): (req: IncomingMessage) => string | null {
  if (trustProxy === false) return socketIp;
  const trust = compileTrust(trustProxy);
  return (req) => withoutIpv4Prefix(proxyAddr(req, trust) ?? req.socket.remoteAddress ?? null);
}

/** What express's `trust proxy` setting makes of its value (express/lib/utils.js compileTrust). */
function compileTrust(value: true | number | string): (address: string, hop: number) => boolean {
  if (value === true) return () => true;
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return proxyAddr.compile(value.split(',').map((part) => part.trim()));
}

/** The socket's address: what the client address comes to, without X-Forwarded-For, when no proxy is trusted. */
function socketIp(req: IncomingMessage): string | null {
  return withoutIpv4Prefix(req.socket.remoteAddress ?? null);
}

function withoutIpv4Prefix(ip: string | null): string | null {
  return ip?.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export interface GraphQLHandlerOptions {
  services: Deps;
  apollo: ApolloServer<Context>;
  requestLog: RequestLog;
  ipOf: (req: IncomingMessage) => string | null;
}

export function createGraphQLHandler({
  services,
  apollo,
  requestLog,
  ipOf,
}: GraphQLHandlerOptions): RequestListener {
  apollo.assertStarted('createGraphQLHandler()');
  // One log line per GraphQL request, whatever answers it (see RequestLog).
  const accessLog = withoutRedaction(services.logger);
  const corsHeaders = cors({
    origin: '*',
    allowedHeaders: ['Content-Type', 'Authorization', 'Apollo-Require-Preflight'],
    // A browser app on another origin may read when to retry, and which request to quote.
    exposedHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600,
  });
  const readJson = bodyParser.json({ limit: BODY_LIMIT });

  const context = async (req: IncomingMessage, ip: string | null, requestId: string): Promise<Context> => {
    const origin = { ip, userAgent: req.headers['user-agent']?.slice(0, 512) ?? null };
    const token = bearerToken(req.headers.authorization);
    if (req.headers.authorization !== undefined && !token) throw httpUnauthenticated();
    const caller = token
      ? await authenticate(services, token).catch((error: unknown) =>
          // A token we refuse is 401; not being able to check it (PostgreSQL down) is not.
          Promise.reject(
            error instanceof UnauthenticatedError ? httpUnauthenticated() : httpUnavailable(services, error),
          ),
        )
      : null;
    return createContextInner(services, caller, origin, requestId);
  };

  /** Errors before GraphQL runs (an oversized or malformed body) still answer in the contract's shape. */
  const refuse = (res: ServerResponse, details: RequestLogDetails, error: unknown): void => {
    const code = sendHttpError(services, res, error);
    if (code !== undefined) details.errorCodes ??= [code];
  };

  const execute = async (
    req: IncomingMessage & { body?: unknown },
    res: ServerResponse,
    details: RequestLogDetails,
    ip: string | null,
    requestId: string,
  ): Promise<void> => {
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const url = req.url ?? '';
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: {
        method: (req.method ?? 'GET').toUpperCase(),
        headers,
        // What url.parse makes of it, without parsing the usual POST /graphql at all.
        search: url.includes('?') ? (parseUrl(url).search ?? '') : '',
        body: req.body,
      },
      context: () => context(req, ip, requestId),
    });
    await write(res, details, response);
  };

  return (req, res) => {
    const requestId = randomUUID();
    const started = performance.now();
    const ip = ipOf(req);
    const details = requestLog.open(requestId);
    res.setHeader('x-request-id', requestId);
    // Answers carry tokens and personal data: no shared or browser cache may keep them.
    res.setHeader('cache-control', 'no-store');
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
    const fail = (error: unknown) => refuse(res, details, error);
    const parseBody = () =>
      readJson(req, res, (error?: unknown) => {
        if (error) return fail(error);
        execute(req, res, details, ip, requestId).catch(fail);
      });
    try {
      // Only browsers read CORS headers, and a browser names its origin on every request that needs
      // them; other services' requests skip the work. A preflight (OPTIONS) is answered here.
      if (req.headers.origin === undefined) parseBody();
      else corsHeaders(req, res, (error?: unknown) => (error ? fail(error) : parseBody()));
    } catch (thrown) {
      // Nothing thrown here may reach the HTTP server's 'request' event (and stop the process).
      fail(thrown);
    }
  };
}

/** Sends Apollo's answer; a refusal made before GraphQL ran has its codes taken from the body. */
async function write(res: ServerResponse, details: RequestLogDetails, response: HTTPGraphQLResponse) {
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status || 200;
  if (response.body.kind === 'complete') {
    if (details.errorCodes === undefined && res.statusCode >= 400) {
      details.errorCodes = errorCodesIn(response.body.string);
    }
    send(res, response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

/** Ends the response with a body; an answer to HEAD says how long the body would have been. */
/**
 * An error no handler answered, in the contract's shape: an oversized body 413 QUERY_REJECTED, a
 * malformed one 400 BAD_USER_INPUT, anything else 500 (logged; never its message). Returns the
 * code answered. After the answer has begun there is nothing to say: the connection is closed.
 */
export function sendHttpError(
  services: Pick<Deps, 'logger'>,
  res: ServerResponse,
  thrown: unknown,
): string | undefined {
  const error = thrown as Error & { status?: number; type?: string };
  if (res.headersSent) {
    services.logger.error({ err: error }, 'unexpected HTTP error');
    res.destroy();
    return undefined;
  }
  const tooLarge = error.type === 'entity.too.large';
  const status = tooLarge ? 413 : (error.status ?? 500);
  const message = tooLarge
    ? 'The request body is too large.'
    : status < 500
      ? 'The request body is not valid JSON.'
      : 'Internal server error.';
  const code = tooLarge ? 'QUERY_REJECTED' : status < 500 ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR';
  if (status >= 500) services.logger.error({ err: error }, 'unexpected HTTP error');
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  send(res, JSON.stringify({ errors: [{ message, extensions: { code } }] }));
  return code;
}

function send(res: ServerResponse, body: string): void {
  if (res.req.method === 'HEAD') {
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end();
    return;
  }
  res.end(body);
}

/** The contract codes in a JSON error body, e.g. one sent before GraphQL ran. */
function errorCodesIn(body: string): string[] | undefined {
  try {
    const errors = (JSON.parse(body) as { errors?: unknown } | null)?.errors;
    return Array.isArray(errors) ? codesOf(errors) : undefined;
  } catch {
    return undefined;
  }
}

/** The token could not be checked (the database did not answer): 503, try again shortly. */
function httpUnavailable(services: Deps, cause: unknown): ServiceUnavailableError {
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
