import type { IncomingMessage, ServerResponse } from 'node:http';
import bodyParser from 'body-parser';
import { type NextFunction, type Request, type RequestHandler, type Response, Router } from 'express';
import type { Deps, RequestOrigin } from '../../kernel/context.js';
import { RateLimitedError, UnauthenticatedError } from '../../kernel/errors.js';
import { write } from '../../kernel/unit-of-work.js';
import { isServiceToken } from '../keys/index.js';
import { endSessionByRefreshToken } from '../sessions/sessions.service.js';
import { tokenLifetimes } from '../tenants/settings.js';
import type { ClientRateLimiter } from './client-rate-limit.js';
import { looksLikeApiKey } from './credentials.js';
import { introspect } from './oauth.introspection.js';
import type { OAuthMetrics } from './oauth.metrics.js';
import { parseScopeParameter, SCOPES } from './scopes.js';
import { insertRevokedToken } from './service-accounts.queries.js';
import { revokeApiKeyAs, serviceAccountDeps } from './service-accounts.service.js';
import type { ClientAuthResult } from './service-auth.js';

/**
 * The OAuth 2.0 endpoints of service accounts: metadata (RFC 8414), the client credentials grant
 * (RFC 6749 §4.4) issuing RFC 9068 JWTs, introspection (RFC 7662) and revocation (RFC 7009).
 * Names and shapes are the standard ones, so ordinary client libraries work unchanged.
 */

export interface OAuthRouteDeps {
  services: Deps;
  clientLimiter: ClientRateLimiter;
  metrics: OAuthMetrics;
  /** The client address, as the rest of the HTTP layer sees it (TRUST_PROXY). */
  ipOf(req: IncomingMessage): string | null;
}

/** A form POST as the endpoints read it: express's request, or Node's with the parsed body. */
type FormRequest = IncomingMessage & { body?: unknown };

/** What the endpoints answer with: express's response, or `replyOn` over Node's. */
interface OAuthReply {
  status(code: number): OAuthReply;
  set(headers: Record<string, string>): OAuthReply;
  json(body: unknown): void;
  end(): void;
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

function sendOAuthError(res: OAuthReply, failure: OAuthError): void {
  res.status(failure.status).set({ 'cache-control': 'no-store', pragma: 'no-cache', ...failure.headers });
  res.json({ error: failure.error, error_description: failure.description });
}

const invalidClient = (basic: boolean) =>
  new OAuthError(
    401,
    'invalid_client',
    'Client authentication failed.',
    // The error is in the challenge too: some clients read only the challenge of a 401.
    basic ? { 'www-authenticate': 'Basic realm="oauth", error="invalid_client", charset="UTF-8"' } : {},
  );

/** RFC 6749 §2.3.1: each part of Basic credentials is application/x-www-form-urlencoded. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

type PresentedClient =
  | { kind: 'none' }
  | { kind: 'credentials'; clientId: string; secret: string; basic: boolean };

/** The client credentials of a request: exactly one method, or invalid_request. */
function presentedClient(req: FormRequest): PresentedClient {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const header = req.headers.authorization;
  const bodyId = body.client_id;
  const bodySecret = body.client_secret;
  if (Array.isArray(bodyId) || Array.isArray(bodySecret)) {
    throw new OAuthError(400, 'invalid_request', 'Each parameter may appear once.');
  }
  if (header !== undefined) {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!match?.[1]) throw invalidClient(true);
    if (bodySecret !== undefined) {
      throw new OAuthError(400, 'invalid_request', 'Use one client authentication method per request.');
    }
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const clientId = colon < 0 ? undefined : formDecode(decoded.slice(0, colon));
    const secret = colon < 0 ? undefined : formDecode(decoded.slice(colon + 1));
    if (!clientId || secret === undefined) throw invalidClient(true);
    if (bodyId !== undefined && bodyId !== clientId) {
      throw new OAuthError(
        400,
        'invalid_request',
        'client_id in the body differs from the authenticated client.',
      );
    }
    return { kind: 'credentials', clientId, secret, basic: true };
  }
  if (bodySecret !== undefined) {
    if (typeof bodyId !== 'string' || typeof bodySecret !== 'string') throw invalidClient(false);
    return { kind: 'credentials', clientId: bodyId, secret: bodySecret, basic: false };
  }
  return { kind: 'none' };
}

function originOf(deps: OAuthRouteDeps, req: FormRequest): RequestOrigin {
  return { ip: deps.ipOf(req), userAgent: req.headers['user-agent']?.slice(0, 512) ?? null };
}

/**
 * Authenticates the client. A failure draws on the caller's per-IP budget (429 once it is used
 * up); a client that authenticates draws on its own budget instead.
 */
async function authenticatedClient(
  deps: OAuthRouteDeps,
  req: FormRequest,
  presented: Extract<PresentedClient, { kind: 'credentials' }>,
): Promise<Extract<ClientAuthResult, { ok: true }>> {
  const result = await deps.services.serviceAccounts.auth.authenticateClient(
    presented.clientId,
    presented.secret,
  );
  if (!result.ok) {
    try {
      await deps.services.authRateLimiter.consume(deps.ipOf(req));
    } catch (error) {
      if (error instanceof RateLimitedError) throw tooManyRequests(error.retryAfterSeconds);
      throw error;
    }
    throw invalidClient(presented.basic);
  }
  const wait = await deps.clientLimiter.consume(presented.clientId);
  if (wait !== undefined) throw tooManyRequests(wait);
  return result;
}

function tooManyRequests(seconds: number): OAuthError {
  return new OAuthError(429, 'rate_limited', `Too many requests. Try again in ${seconds} seconds.`, {
    'retry-after': String(seconds),
  });
}

function singleParameter(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new OAuthError(400, 'invalid_request', `${name} may appear once.`);
  return value;
}

export function oauthMetadata(services: Deps): Record<string, unknown> {
  const base = services.config.publicUrl;
  const methods = ['client_secret_basic', 'client_secret_post'];
  return {
    issuer: services.tokens.issuer,
    jwks_uri: `${base}/.well-known/jwks.json`,
    token_endpoint: `${base}/oauth/token`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: methods,
    introspection_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_methods_supported: methods,
    scopes_supported: [...SCOPES],
  };
}

/** RFC 6749 §4.4: the client credentials grant, answered with an RFC 9068 access token. */
async function tokenEndpoint(deps: OAuthRouteDeps, req: FormRequest, res: OAuthReply): Promise<void> {
  const { services, metrics } = deps;
  try {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const presented = presentedClient(req);
    const grantType = singleParameter(body, 'grant_type');
    const scopeParameter = singleParameter(body, 'scope');
    if (grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required.');
    if (presented.kind === 'none') throw invalidClient(false);
    const client = await authenticatedClient(deps, req, presented);
    if (grantType !== 'client_credentials') {
      throw new OAuthError(400, 'unsupported_grant_type', 'Only client_credentials is supported.');
    }
    let scopes = client.account.scopes;
    if (scopeParameter !== undefined && scopeParameter !== '') {
      const requested = parseScopeParameter(scopeParameter);
      if (!requested) throw new OAuthError(400, 'invalid_request', 'scope is malformed.');
      if (requested.some((scope) => !client.account.scopes.includes(scope))) {
        throw new OAuthError(400, 'invalid_scope', 'A requested scope is not granted to this client.');
      }
      scopes = client.account.scopes.filter((scope) => requested.includes(scope));
    }
    const ttl = tokenLifetimes(client.tenant, services.config.jwt).accessTokenTtlSeconds;
    const scope = scopes.join(' ');
    const { token } = await services.tokens.signService(
      {
        sub: client.account.serviceAccountId,
        tid: client.account.tenantId,
        clientId: presented.clientId,
        scope,
        secretId: client.secretId,
      },
      ttl,
    );
    services.serviceAccounts.usage.tokenIssued(
      client.account.tenantId,
      client.account.serviceAccountId,
      client.secretId,
    );
    metrics.grant('issued');
    res.set({ 'cache-control': 'no-store', pragma: 'no-cache' });
    res.json({ access_token: token, token_type: 'Bearer', expires_in: ttl, scope });
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    metrics.grant(error.error as Parameters<OAuthMetrics['grant']>[0]);
    sendOAuthError(res, error);
  }
}

/** RFC 7662: is this token live, and what does it stand for (to a client with tokens:introspect). */
async function introspectionEndpoint(deps: OAuthRouteDeps, req: FormRequest, res: OAuthReply): Promise<void> {
  const { services, metrics } = deps;
  try {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const presented = presentedClient(req);
    if (presented.kind === 'none') throw invalidClient(false);
    const client = await authenticatedClient(deps, req, presented);
    if (!client.account.scopes.includes('tokens:introspect')) {
      throw new OAuthError(403, 'insufficient_scope', 'The client lacks the tokens:introspect scope.');
    }
    const token = singleParameter(body, 'token');
    if (token === undefined) throw new OAuthError(400, 'invalid_request', 'token is required.');
    const answer = await introspect(services, token, {
      tenantId: client.account.tenantId,
      reachesAllTenants: client.reachesAllTenants,
    });
    metrics.introspection(answer.active ? 'active' : 'inactive');
    res.set({ 'cache-control': 'no-store', pragma: 'no-cache' });
    res.json(answer);
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    metrics.introspection(error.error as Parameters<OAuthMetrics['introspection']>[0]);
    sendOAuthError(res, error);
  }
}

/** RFC 7009: see `revoke` below. */
async function revocationEndpoint(deps: OAuthRouteDeps, req: FormRequest, res: OAuthReply): Promise<void> {
  try {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const presented = presentedClient(req);
    const client = presented.kind === 'none' ? undefined : await authenticatedClient(deps, req, presented);
    const token = singleParameter(body, 'token');
    if (token === undefined) throw new OAuthError(400, 'invalid_request', 'token is required.');
    await revoke(deps, req, token, client);
    res.set({ 'cache-control': 'no-store', pragma: 'no-cache' });
    res.status(200).end();
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    sendOAuthError(res, error);
  }
}

type Endpoint = (deps: OAuthRouteDeps, req: FormRequest, res: OAuthReply) => Promise<void>;

const ENDPOINTS: Record<string, Endpoint> = {
  '/oauth/token': tokenEndpoint,
  '/oauth/introspect': introspectionEndpoint,
  '/oauth/revoke': revocationEndpoint,
};

/** The form body every endpoint reads (RFC 6749 §3.2: application/x-www-form-urlencoded). */
const readForm = () => bodyParser.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

/** A body that is not a form (or is too large) is the client's mistake, told the OAuth way. */
const notAForm = () => new OAuthError(400, 'invalid_request', 'The request body is not a valid form.');

/**
 * The three POST endpoints on Node's own request and response, without express (as /graphql is
 * served, see src/app/http.ts): a grant or an introspection is a whole request of its own, and
 * express's router, request and response objects and its ETag over every answer cost as much as
 * the endpoint's own work. Takes `POST` to exactly `/oauth/token`, `/oauth/introspect` or
 * `/oauth/revoke` (a query string allowed) and answers true; anything else (other methods, other
 * spellings) is left to `oauthRouter`, which answers it as before. `fail` answers an unexpected
 * error the way the rest of the HTTP layer does.
 */
export function oauthEndpoints(
  deps: OAuthRouteDeps,
  fail: (res: ServerResponse, error: unknown) => void,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const form = readForm();
  return (req, res) => {
    if (req.method !== 'POST' || req.url === undefined) return false;
    const query = req.url.indexOf('?');
    const endpoint = ENDPOINTS[query < 0 ? req.url : req.url.slice(0, query)];
    if (!endpoint) return false;
    const reply = replyOn(res);
    form(req, res, (error?: unknown) => {
      const status = (error as { status?: number } | undefined)?.status;
      if (error && status !== undefined && status < 500) return sendOAuthError(reply, notAForm());
      if (error) return fail(res, error);
      endpoint(deps, req, reply).catch((thrown: unknown) => fail(res, thrown));
    });
    return true;
  };
}

/** The four things an endpoint does with its answer, on Node's response. */
function replyOn(res: ServerResponse): OAuthReply {
  const reply: OAuthReply = {
    status(code) {
      res.statusCode = code;
      return reply;
    },
    set(headers) {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      return reply;
    },
    json(body) {
      const text = JSON.stringify(body);
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('content-length', Buffer.byteLength(text));
      res.end(text);
    },
    end() {
      res.end();
    },
  };
  return reply;
}

/** Metadata (RFC 8414) and, for other spellings of their paths, the endpoints above, on express. */
export function oauthRouter(deps: OAuthRouteDeps): Router {
  const { services } = deps;
  const router = Router();
  const form = readForm();

  const metadata: RequestHandler = (_req, res) => {
    res.set('cache-control', 'public, max-age=300');
    res.json(oauthMetadata(services));
  };
  router.get('/.well-known/oauth-authorization-server', metadata);
  router.get('/.well-known/openid-configuration', metadata);
  for (const [path, endpoint] of Object.entries(ENDPOINTS)) {
    router.post(path, form, (req, res, next) => {
      endpoint(deps, req, res).catch(next);
    });
  }
  router.use(
    '/oauth',
    (error: Error & { status?: number }, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent || !error.status || error.status >= 500) return next(error);
      sendOAuthError(res, notAForm());
    },
  );
  return router;
}

/**
 * RFC 7009: a refresh token ends its session (any caller: holding it is the proof); an
 * authenticated service may also revoke its own access tokens and API keys. Anything else,
 * unknown or already revoked, changes nothing and answers the same.
 */
async function revoke(
  deps: OAuthRouteDeps,
  req: FormRequest,
  token: string,
  client: Extract<ClientAuthResult, { ok: true }> | undefined,
): Promise<void> {
  const { services } = deps;
  const origin = originOf(deps, req);
  const runtime = services.serviceAccounts;
  if (client && looksLikeApiKey(token)) {
    const principal = await runtime.auth.fromApiKey(token, { recordUse: false }).catch(() => undefined);
    if (
      principal?.credential.type === 'apiKey' &&
      principal.serviceAccountId === client.account.serviceAccountId &&
      principal.tenantId === client.account.tenantId
    ) {
      await revokeApiKeyAs(
        serviceAccountDeps(services),
        {
          id: principal.serviceAccountId,
          tenantId: principal.tenantId,
          reachesAllTenants: false,
          type: 'SERVICE',
        },
        principal.credential.id,
        origin,
      );
    }
    return;
  }
  if (token.split('.').length === 3) {
    const claims = await services.tokens.verifyAny(token).catch((error: unknown) => {
      if (error instanceof UnauthenticatedError) return undefined;
      throw error;
    });
    if (
      client &&
      claims &&
      isServiceToken(claims) &&
      claims.sub === client.account.serviceAccountId &&
      claims.tid === client.account.tenantId
    ) {
      const now = services.clock.now();
      await write(services, async (w) => {
        await insertRevokedToken(w.tx, {
          tenantId: claims.tid,
          serviceAccountId: claims.sub,
          jti: claims.jti,
          expiresAt: new Date(claims.exp * 1000),
        });
        await w.audit(origin, {
          tenantId: claims.tid,
          actorId: claims.sub,
          action: 'service_account.token_revoked',
          targetType: 'service_account',
          targetId: claims.sub,
          metadata: { actorType: 'SERVICE', jti: claims.jti },
          at: now,
        });
        w.afterCommit(() => runtime.credentials.invalidate(claims.tid, claims.sub), { required: true });
      });
    }
    return;
  }
  await endSessionByRefreshToken(services, token, origin);
}
