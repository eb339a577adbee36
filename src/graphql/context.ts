import { randomUUID } from 'node:crypto';
import type { GraphQLResolveInfo } from 'graphql';
import type { Config } from '../config.js';
import type { Database, Db } from '../db/client.js';
import type { BackgroundWork } from '../lib/background.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { EmailBudget } from '../modules/abuse/email-budget.js';
import type { AuthRateLimiter } from '../modules/abuse/rate-limits.js';
import type { IdentityCache } from '../modules/cache/identity-cache.js';
import type { Mailer } from '../modules/email/email.service.js';
import { type AccessTokens, isServiceToken, type SigningKeyStore } from '../modules/keys/index.js';
import type { ServiceMetrics } from '../modules/metrics/index.js';
import type { CeremonyStore } from '../modules/mfa/ceremony-store.js';
import type { TotpSecretBox } from '../modules/mfa/secret-box.js';
import type { PasswordHasher } from '../modules/passwords/index.js';
import type { EventBus } from '../modules/realtime/event-bus.js';
import { looksLikeApiKey } from '../modules/service-accounts/credentials.js';
import type { ServiceAccountsRuntime } from '../modules/service-accounts/runtime.js';
import type { ServicePrincipal } from '../modules/service-accounts/service-principal.js';
import type { SessionGuard } from '../modules/sessions/session-guard.js';
import { actorIdOf, type Caller, isSystemWide, type ServiceCaller, type UserCaller } from './caller.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';
import { createLoaders, createPlatformLoaders, type Loaders, type PlatformLoaders } from './loaders.js';

/** Long-lived dependencies, built once at start-up and shared by every request. */
export interface Services {
  config: Config;
  database: Database;
  db: Db;
  /**
   * Where lag-tolerant admin reads go (tenant statistics, audit, user and tenant lists): the read
   * replica of DATABASE_READ_URL, or `db`. Never for anything that decides access (session
   * checks, cache refills, password checks, spent tokens) nor inside a write.
   */
  readDb: Db;
  clock: Clock;
  logger: Logger;
  hasher: PasswordHasher;
  keys: SigningKeyStore;
  tokens: AccessTokens;
  sessionGuard: SessionGuard;
  /** Users, tenants and session checks, in memory and Redis; invalidated after every write. */
  cache: IdentityCache;
  /** Live events for subscriptions (Redis pub/sub, or in-process without Redis). */
  events: EventBus;
  authRateLimiter: AuthRateLimiter;
  /** Counters the services feed (sign-ins, refresh-token reuse); see modules/metrics. */
  metrics: ServiceMetrics;
  /** Service accounts' credential checks, caches and usage counts. */
  serviceAccounts: ServiceAccountsRuntime;
  /** Second factors: TOTP secrets' sealing, and WebAuthn challenges between start and finish. */
  mfa: { secrets: TotpSecretBox; ceremonies: CeremonyStore };
  /** Email templates and the outbox (modules/email). */
  mailer: Mailer;
  /** Emails of one kind per address per hour (no mail bombing). */
  emailBudget: EmailBudget;
  /** Work started by a request but not awaited by its answer; awaited at shutdown. */
  background: BackgroundWork;
}

/** Where a request comes from; recorded on sessions and audit events. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
}

export type { Caller, ServiceCaller, UserCaller } from './caller.js';

export interface Context {
  requestId: string;
  services: Services;
  /** Fixed when the operation starts; nothing inside the operation replaces it. */
  readonly caller: Caller | null;
  /**
   * Who a sign-in in this operation signed in, for the request log only: it never grants
   * anything (the caller above stays the operation's caller).
   */
  signedInAs?: { tenantId: string; userId: string };
  origin: RequestOrigin;
  /** DataLoaders for the caller's tenant (every query they run filters by it). */
  loaders: Loaders;
  /**
   * Loaders for the tenant a row belongs to: the caller's own `loaders`, or for a system ADMIN
   * fresh loaders scoped to that other tenant (built once per request). Anyone else is refused,
   * so a resolver handed another tenant's row cannot read around it.
   */
  loadersFor(tenantId: string): Loaders;
  /** Loaders spanning tenants (a page of tenants' stats); system ADMINs only. */
  platformLoaders(): PlatformLoaders;
  logger: Logger;
}

export interface SignedInContext extends Context {
  readonly caller: Caller;
}

/**
 * One request's context. State lives in own fields and behaviour on the prototype, because Apollo
 * hands resolvers a shallow copy (`Object.assign(Object.create(prototype), ctx)`) and a
 * subscription re-authorizing an event assigns a fresh context's fields onto its own: both keep
 * working, and the methods read the caller through `this`.
 */
class RequestContext implements Context {
  loaders: Loaders;
  /** Built on first use: most requests never log anything of their own. */
  requestLogger: Logger | undefined = undefined;
  otherTenantLoaders = new Map<string, Loaders>();
  platform: PlatformLoaders | undefined = undefined;
  /** See answerAsSignedIn: the contexts of this operation's sign-in answers, by response key. */
  signedInAnswers: Map<string, Context> | undefined = undefined;

  constructor(
    readonly services: Services,
    readonly caller: Caller | null,
    readonly origin: RequestOrigin,
    readonly requestId: string,
  ) {
    this.loaders = createLoaders(services, caller?.tenantId ?? null, () => services.clock.now());
  }

  get logger(): Logger {
    this.requestLogger ??= this.services.logger.child({
      requestId: this.requestId,
      tenantId: this.caller?.tenantId,
      userId: this.caller ? actorIdOf(this.caller) : undefined,
    });
    return this.requestLogger;
  }

  loadersFor(tenantId: string): Loaders {
    if (!this.caller) throw new UnauthenticatedError();
    if (tenantId === this.caller.tenantId) return this.loaders;
    if (!isSystemWide(this.caller)) throw new ForbiddenError();
    let loaders = this.otherTenantLoaders.get(tenantId);
    if (!loaders) {
      const { services } = this;
      loaders = createLoaders(services, tenantId, () => services.clock.now());
      this.otherTenantLoaders.set(tenantId, loaders);
    }
    return loaders;
  }

  platformLoaders(): PlatformLoaders {
    if (this.caller?.kind !== 'user' || !this.caller.isSystemAdmin) throw new ForbiddenError();
    const { services } = this;
    this.platform ??= createPlatformLoaders(services.readDb, () => services.clock.now());
    return this.platform;
  }
}

/**
 * Builds a request context from an already-authenticated caller. It takes no HTTP objects, so
 * tests and the WebSocket server build contexts the same way as HTTP requests do.
 */
export function createContextInner(
  services: Services,
  caller: Caller | null,
  origin: RequestOrigin,
  requestId: string = randomUUID(),
): Context {
  return new RequestContext(services, caller, origin, requestId);
}

/**
 * Checks a bearer token: a person's access token (signature and claims, then that its session
 * is still active), or a service's access token or API key (checked against its account as it
 * is now). `users` alone: a service's credentials are refused (UNAUTHENTICATED).
 */
export async function authenticate(services: Services, token: string): Promise<Caller> {
  const auth = services.serviceAccounts.auth;
  if (looksLikeApiKey(token)) return serviceCaller(await auth.fromApiKey(token));
  const claims = services.tokens.rememberedAny(token) ?? (await services.tokens.verifyAny(token));
  if (isServiceToken(claims)) return serviceCaller(await auth.fromAccessToken(claims));
  return authenticateUser(services, token);
}

function serviceCaller(principal: ServicePrincipal): ServiceCaller {
  return {
    kind: 'service',
    serviceAccountId: principal.serviceAccountId,
    tenantId: principal.tenantId,
    clientId: principal.clientId,
    scopes: principal.scopes,
    reachesAllTenants: principal.reachesAllTenants,
    tokenExpiresAt: principal.credential.expiresAt ?? undefined,
  };
}

/** A person's access token only (WebSocket connections are for people's apps). */
export async function authenticateUser(services: Services, token: string): Promise<UserCaller> {
  // Most requests carry a token this process has seen, whose session, user and tenant are in
  // memory: then nothing here waits.
  const { tokens, sessionGuard } = services;
  const claims = tokens.remembered(token) ?? (await tokens.verify(token));
  // The role comes from the live user row, not the token: a demotion takes effect at once.
  const active =
    sessionGuard.checkInMemory(claims.sid, claims.tid, claims.sub) ??
    (await sessionGuard.assertActive(claims.sid, claims.tid, claims.sub));
  return {
    kind: 'user',
    userId: claims.sub,
    tenantId: claims.tid,
    role: active.role,
    sessionId: claims.sid,
    tokenId: claims.jti,
    isSystemAdmin: active.role === 'ADMIN' && active.tenantIsSystem,
    tokenExpiresAt: new Date(claims.exp * 1000),
    mfaEnrollmentRequired: active.mfaEnrollmentRequired,
  };
}

/** Extracts the token from `Authorization: Bearer <token>` (also used for WebSocket params). */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * The answer of a sign-in (`login`, `register`, `refresh`) describes the new session: its user,
 * tenant and sessions are read as that user would read them. Only that field's own answer is:
 * the operation's caller stays the one it started with, so a sign-in can never lend its rights
 * to the fields after it (nor change the permission verdicts already remembered for them). Every
 * field below the sign-in's root field is resolved with a context of its own for the new caller
 * (`contextAt`, called by the permission layer for every field).
 */
export function answerAsSignedIn(ctx: Context, info: GraphQLResolveInfo, caller: Caller): void {
  if (!(ctx instanceof RequestContext)) return;
  ctx.signedInAnswers ??= new Map();
  ctx.signedInAnswers.set(
    String(info.path.key),
    new RequestContext(ctx.services, caller, ctx.origin, ctx.requestId),
  );
}

/**
 * The context a field at `info.path` resolves with: the operation's own, or, below a sign-in's
 * root field, the context of that sign-in's answer.
 */
export function contextAt(ctx: Context, info: GraphQLResolveInfo): Context {
  const answers = (ctx as RequestContext).signedInAnswers;
  if (answers === undefined) return ctx;
  let path = info.path;
  while (path.prev) path = path.prev;
  // The root field itself (the sign-in) still runs with the operation's context.
  if (path === info.path) return ctx;
  return answers.get(String(path.key)) ?? ctx;
}
