import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { Database, Db } from '../db/client.js';
import type { Role } from '../db/schema.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { AuthRateLimiter } from '../modules/abuse/rate-limits.js';
import type { IdentityCache } from '../modules/cache/identity-cache.js';
import type { AccessTokens, SigningKeyStore } from '../modules/keys/index.js';
import type { ServiceMetrics } from '../modules/metrics/index.js';
import type { PasswordHasher } from '../modules/passwords/index.js';
import type { EventBus } from '../modules/realtime/event-bus.js';
import type { SessionGuard } from '../modules/sessions/session-guard.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';
import { createLoaders, createPlatformLoaders, type Loaders, type PlatformLoaders } from './loaders.js';

/** Long-lived dependencies, built once at start-up and shared by every request. */
export interface Services {
  config: Config;
  database: Database;
  db: Db;
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
}

/** Who is calling, as proven by a verified access token whose session is still active. */
export interface Caller {
  userId: string;
  tenantId: string;
  role: Role;
  sessionId: string;
  tokenId: string;
  /** An ADMIN of the system tenant: may reach every tenant. */
  isSystemAdmin: boolean;
  /** When the access token expires (a WebSocket is closed then). */
  tokenExpiresAt?: Date;
}

/** Where a request comes from; recorded on sessions and audit events. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
}

export interface Context {
  requestId: string;
  services: Services;
  caller: Caller | null;
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
  caller: Caller;
}

/**
 * One request's context. State lives in own fields and behaviour on the prototype, because Apollo
 * hands resolvers a shallow copy (`Object.assign(Object.create(prototype), ctx)`) and a
 * subscription re-authorizing an event assigns a fresh context's fields onto its own: both keep
 * working, and the methods read the caller through `this` (`adoptCaller` sets it on the copy).
 */
class RequestContext implements Context {
  loaders: Loaders;
  /** Built on first use: most requests never log anything of their own. */
  requestLogger: Logger | undefined = undefined;
  otherTenantLoaders = new Map<string, Loaders>();
  platform: PlatformLoaders | undefined = undefined;

  constructor(
    readonly services: Services,
    public caller: Caller | null,
    readonly origin: RequestOrigin,
    readonly requestId: string,
  ) {
    this.loaders = createLoaders(services.db, services.cache, caller?.tenantId ?? null, () =>
      services.clock.now(),
    );
  }

  get logger(): Logger {
    this.requestLogger ??= this.services.logger.child({
      requestId: this.requestId,
      tenantId: this.caller?.tenantId,
      userId: this.caller?.userId,
    });
    return this.requestLogger;
  }

  loadersFor(tenantId: string): Loaders {
    if (!this.caller) throw new UnauthenticatedError();
    if (tenantId === this.caller.tenantId) return this.loaders;
    if (!this.caller.isSystemAdmin) throw new ForbiddenError();
    let loaders = this.otherTenantLoaders.get(tenantId);
    if (!loaders) {
      const { services } = this;
      loaders = createLoaders(services.db, services.cache, tenantId, () => services.clock.now());
      this.otherTenantLoaders.set(tenantId, loaders);
    }
    return loaders;
  }

  platformLoaders(): PlatformLoaders {
    if (!this.caller?.isSystemAdmin) throw new ForbiddenError();
    const { services } = this;
    this.platform ??= createPlatformLoaders(services.db, () => services.clock.now());
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

/** Checks a bearer token: signature and claims, then that its session is still active. */
export async function authenticate(services: Services, token: string): Promise<Caller> {
  // Most requests carry a token this process has seen, whose session, user and tenant are in
  // memory: then nothing here waits.
  const { tokens, sessionGuard } = services;
  const claims = tokens.remembered(token) ?? (await tokens.verify(token));
  // The role comes from the live user row, not the token: a demotion takes effect at once.
  const active =
    sessionGuard.checkInMemory(claims.sid, claims.tid, claims.sub) ??
    (await sessionGuard.assertActive(claims.sid, claims.tid, claims.sub));
  return {
    userId: claims.sub,
    tenantId: claims.tid,
    role: active.role,
    sessionId: claims.sid,
    tokenId: claims.jti,
    isSystemAdmin: active.role === 'ADMIN' && active.tenantIsSystem,
    tokenExpiresAt: new Date(claims.exp * 1000),
  };
}

/** Extracts the token from `Authorization: Bearer <token>` (also used for WebSocket params). */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * After a sign-in on an anonymous request, the rest of the answer (the payload's user, tenant
 * and sessions) is resolved as the newly signed-in user would see it.
 */
export function adoptCaller(ctx: Context, caller: Caller): void {
  if (ctx.caller) return;
  ctx.caller = caller;
  if (ctx instanceof RequestContext) ctx.requestLogger = undefined;
  ctx.loaders = createLoaders(ctx.services.db, ctx.services.cache, caller.tenantId, () =>
    ctx.services.clock.now(),
  );
}
