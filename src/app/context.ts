import { randomUUID } from 'node:crypto';
import type { GraphQLResolveInfo } from 'graphql';
import type { SessionRow, TenantRow } from '../db/schema.js';
import {
  actorIdOf,
  type Caller,
  isSystemWide,
  type ServiceCaller,
  type UserCaller,
} from '../kernel/caller.js';
import type { Context, Deps, Loaders, PlatformLoaders, RequestOrigin } from '../kernel/context.js';
import { ForbiddenError, UnauthenticatedError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { UserView } from '../modules/cache/identity-cache.js';
import { type AccessTokenClaims, isServiceToken } from '../modules/keys/index.js';
import { looksLikeApiKey } from '../modules/service-accounts/credentials.js';
import type { ServicePrincipal } from '../modules/service-accounts/service-principal.js';
import { callerFrom } from '../modules/sessions/session-guard.js';
import { createPlatformLoaders, TenantLoaders } from '../modules/tenants/tenants.loaders.js';
import { UserLoaders } from '../modules/users/users.loaders.js';

export type {
  Caller,
  Context,
  Deps,
  RequestOrigin,
  ServiceCaller,
  SignedInContext,
  UserCaller,
} from '../kernel/context.js';

/**
 * One request's loaders for one tenant: each feature's own loaders (users.loaders.ts,
 * tenants.loaders.ts), each built on its first use and called through. Every request builds one
 * of these, and most touch one feature's loaders or none.
 */
class RequestLoaders implements Loaders {
  #users: UserLoaders | undefined = undefined;
  #tenants: TenantLoaders | undefined = undefined;
  /** Set by serviceAccountLoaders when first needed (declared here so every request's shape is one). */
  serviceAccounts: Loaders['serviceAccounts'] = undefined;

  constructor(
    private readonly services: Deps,
    readonly tenantId: string | null,
  ) {}

  private get users(): UserLoaders {
    this.#users ??= new UserLoaders(this.services, this.tenantId);
    return this.#users;
  }

  private get tenants(): TenantLoaders {
    this.#tenants ??= new TenantLoaders(this.services, this.tenantId);
    return this.#tenants;
  }

  user(id: string): UserView | null | Promise<UserView | null> {
    return this.users.user(id);
  }
  existingUser(id: string): UserView | Promise<UserView> {
    return this.users.existingUser(id);
  }
  rememberUser<T extends UserView>(user: T): T {
    return this.users.rememberUser(user);
  }
  prefetchUsersPage(info: GraphQLResolveInfo, users: readonly { id: string }[]): Promise<void> | undefined {
    return this.users.prefetchUsersPage(info, users);
  }
  activeSessions(userId: string): SessionRow[] | Promise<SessionRow[]> {
    return this.users.activeSessions(userId);
  }

  tenant(id: string): TenantRow | null | Promise<TenantRow | null> {
    return this.tenants.tenant(id);
  }
  existingTenant(id: string): TenantRow | Promise<TenantRow> {
    return this.tenants.existingTenant(id);
  }
  rememberTenant<T extends TenantRow>(tenant: T): T {
    return this.tenants.rememberTenant(tenant);
  }
  get tenantStats(): Loaders['tenantStats'] {
    return this.tenants.tenantStats;
  }
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
  /** See answerAs: the contexts of this operation's sign-in answers, by response key. */
  signedInAnswers: Map<string, Context> | undefined = undefined;
  readonly verdicts = new Map<object, unknown>();

  constructor(
    readonly services: Deps,
    readonly caller: Caller | null,
    readonly origin: RequestOrigin,
    readonly requestId: string,
  ) {
    this.loaders = new RequestLoaders(services, caller?.tenantId ?? null);
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
      loaders = new RequestLoaders(this.services, tenantId);
      this.otherTenantLoaders.set(tenantId, loaders);
    }
    return loaders;
  }

  platformLoaders(): PlatformLoaders {
    if (this.caller?.kind !== 'user' || !this.caller.isSystemAdmin) throw new ForbiddenError();
    this.platform ??= createPlatformLoaders(this.services);
    return this.platform;
  }

  answerAs(info: GraphQLResolveInfo, caller: Caller): void {
    this.signedInAnswers ??= new Map();
    this.signedInAnswers.set(
      String(info.path.key),
      new RequestContext(this.services, caller, this.origin, this.requestId),
    );
  }

  withCaller(caller: Caller): Context {
    return new RequestContext(this.services, caller, this.origin, this.requestId);
  }
}

/**
 * Builds a request context from an already-authenticated caller. It takes no HTTP objects, so
 * tests and the WebSocket server build contexts the same way as HTTP requests do.
 */
export function createContextInner(
  services: Deps,
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
export async function authenticate(services: Deps, token: string): Promise<Caller> {
  const auth = services.serviceAccounts.auth;
  if (looksLikeApiKey(token)) return serviceCaller(await auth.fromApiKey(token));
  const claims = services.tokens.rememberedAny(token) ?? (await services.tokens.verifyAny(token));
  if (isServiceToken(claims)) return serviceCaller(await auth.fromAccessToken(claims));
  // The claims just checked, not the token again: every lookup of it hashes the whole token.
  return userCaller(services, claims);
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
export async function authenticateUser(services: Deps, token: string): Promise<UserCaller> {
  // Most requests carry a token this process has seen, whose session, user and tenant are in
  // memory: then nothing here waits.
  const { tokens } = services;
  return userCaller(services, tokens.remembered(token) ?? (await tokens.verify(token)));
}

/** The caller a person's verified token stands for, as their session, user and tenant are now. */
function userCaller(
  services: Pick<Deps, 'sessionGuard'>,
  claims: Readonly<AccessTokenClaims>,
): UserCaller | Promise<UserCaller> {
  // The role comes from the live user row, not the token: a demotion takes effect at once.
  const checked = services.sessionGuard.check(claims.sid, claims.tid, claims.sub);
  const token = { tokenId: claims.jti, expiresAt: new Date(claims.exp * 1000) };
  return checked instanceof Promise
    ? checked.then((active) => callerFrom(active, token))
    : callerFrom(checked, token);
}

/** Extracts the token from `Authorization: Bearer <token>` (also used for WebSocket params). */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header);
  return match?.[1] ?? null;
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
