import type { GraphQLResolveInfo } from 'graphql';
import type { Caller } from './caller.js';
import type { Deps, RequestOrigin } from './deps.js';
import type { Logger } from './logger.js';

export type { Caller, ServiceCaller, UserCaller } from './caller.js';
export type { Deps, RequestOrigin } from './deps.js';

/**
 * Per-request batch loaders, built for one tenant: every query they run filters by it, so a
 * resolver handed an id from another tenant simply finds nothing. The features that own the data
 * add their loaders by declaration merging (users.loaders.ts, tenants.loaders.ts); the
 * composition root builds them (src/app/context.ts).
 */
export interface Loaders {
  readonly tenantId: string | null;
}

/** Loaders that span tenants; only a system ADMIN's context ever builds them. */
// biome-ignore lint/suspicious/noEmptyInterface: the features that own cross-tenant data add its loaders
export interface PlatformLoaders {}

export interface Context {
  requestId: string;
  services: Deps;
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
  /**
   * The answer of a sign-in (`login`, `register`, `refresh`) describes the new session: the
   * fields below this root field resolve as `caller` would read them. Only that field's own
   * answer does: the operation's caller stays the one it started with, so a sign-in never lends
   * its rights to the fields after it.
   */
  answerAs(info: GraphQLResolveInfo, caller: Caller): void;
  /**
   * The permission layer's verdicts on rules that depend on the caller alone, remembered for this
   * context's caller only: a context for another caller (`withCaller`, `answerAs`) starts empty.
   */
  readonly verdicts: Map<object, unknown>;
  /** A context for the same request and connection with `caller` (a subscription's event). */
  withCaller(caller: Caller): Context;
  logger: Logger;
}

export interface SignedInContext extends Context {
  readonly caller: Caller;
}
