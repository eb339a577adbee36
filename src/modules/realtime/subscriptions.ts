import { requireCaller } from '../../kernel/caller.js';
import type { Caller, Context, UserCaller } from '../../kernel/context.js';
import { BadUserInputError, MfaEnrollmentRequiredError, UnauthenticatedError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { callerFrom } from '../sessions/session-guard.js';
import { reachableUserTenant } from '../users/users.access.js';
import type { EventStream } from './event-bus.js';
import { authorizeAuditStream, authorizeUserStream } from './realtime.rules.js';
import {
  type AuditEventPayload,
  type SessionEndedPayload,
  topics,
  type UserChangedPayload,
} from './topics.js';

/**
 * The subscribe step of each subscription. graphql-shield never sees it, so each one decides
 * here who may open which stream (with the stream rules of realtime.rules.ts), then listens on a
 * channel named by the tenant (and user) it authorized: no event of another tenant can reach it.
 * Before every event the caller is checked again as they are now (session still active, role
 * still sufficient) and the request context is renewed, so fields resolve with fresh loaders and
 * today's permissions.
 */

/** A person's subscriptions: a service caller is refused (FORBIDDEN), as `isAuthenticated` does. */
function signedIn(ctx: Context): UserCaller {
  return requireCaller(ctx.caller);
}

/** Only sessionEnded is open to a session that must enrol a second factor first. */
function enrolled(ctx: Context): UserCaller {
  const caller = signedIn(ctx);
  if (caller.mfaEnrollmentRequired) throw new MfaEnrollmentRequiredError();
  return caller;
}

/** The caller's own sessions. Delivered even for the session of this very connection. */
export async function subscribeSessionEnded(
  ctx: Context,
): Promise<AsyncIterableIterator<SessionEndedPayload>> {
  const caller = signedIn(ctx);
  const stream = await ctx.services.events.listen<SessionEndedPayload>(
    topics.sessionEnded(caller.tenantId, caller.userId),
  );
  return new AuthorizedStream(ctx, stream, { recheck: false, authorize: () => {} });
}

/**
 * Oneself (any role), or as a MODERATOR or ADMIN a user of one's own tenant (any tenant for
 * system ADMINs). Another tenant's user answers exactly like one that does not exist.
 */
export async function subscribeUserChanged(
  ctx: Context,
  id: string | null | undefined,
): Promise<AsyncIterableIterator<UserChangedPayload>> {
  const caller = enrolled(ctx);
  const target = id ?? caller.userId;
  let tenantId = caller.tenantId;
  const authorize = (current: Caller) =>
    authorizeUserStream(requireCaller(current), { tenantId, id: target });
  authorize(caller);
  if (target !== caller.userId) {
    tenantId = await reachableUserTenant(ctx.services, caller, target);
    await ctx.loadersFor(tenantId).existingUser(target);
  }
  const stream = await ctx.services.events.listen<UserChangedPayload>(topics.userChanged(tenantId, target));
  // A deleted user has nothing left to show: the subscription completes.
  return new AuthorizedStream(ctx, stream, { recheck: true, authorize, last: (event) => event.deleted });
}

/**
 * ADMINs, and services holding audit:read: their own tenant's audit trail as it is written;
 * system ADMINs and system-tenant services may name another tenant.
 */
export async function subscribeAuditEvents(
  ctx: Context,
  tenantIdArgument: string | null | undefined,
): Promise<AsyncIterableIterator<AuditEventPayload>> {
  if (!ctx.caller) throw new UnauthenticatedError();
  const caller: Caller = ctx.caller.kind === 'user' ? enrolled(ctx) : ctx.caller;
  const tenantId = tenantIdArgument ?? caller.tenantId;
  if (!isUuid(tenantId)) throw BadUserInputError.field('tenantId', 'tenantId must be an id (a UUID).');
  const authorize = (current: Caller) => authorizeAuditStream(current, tenantId);
  authorize(caller);
  const stream = await ctx.services.events.listen<AuditEventPayload>(topics.auditEventAdded(tenantId));
  return new AuthorizedStream(ctx, stream, { recheck: true, authorize });
}

interface StreamOptions<T> {
  /** Check the caller's session again before each event (and refresh their role). */
  recheck: boolean;
  /** Throws when the caller (as they are now) may no longer receive these events. */
  authorize(caller: Caller): void;
  /** An event that ends the stream instead of being delivered. */
  last?(event: T): boolean;
}

/**
 * A hand-written iterator rather than an async generator: a generator waiting for the next event
 * cannot be returned early, so a client's "complete" would leave the Redis subscription open.
 */
class AuthorizedStream<T> implements AsyncIterableIterator<T> {
  constructor(
    private readonly ctx: Context,
    private readonly stream: EventStream<T>,
    private readonly options: StreamOptions<T>,
  ) {}

  async next(): Promise<IteratorResult<T>> {
    const result = await this.stream.next();
    if (result.done) return result;
    try {
      if (this.options.last?.(result.value)) return await this.return();
      if (this.options.recheck) await this.#renewCaller();
    } catch (error) {
      await this.return();
      throw error;
    }
    return result;
  }

  async return(): Promise<IteratorResult<T>> {
    await this.stream.return();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  async #renewCaller(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.caller?.kind === 'service') {
      // The same credential, against the account as it is now (see ws.ts).
      if (!ctx.caller.renew) throw new UnauthenticatedError();
      const current = await ctx.caller.renew();
      this.options.authorize(current);
      Object.assign(ctx, ctx.withCaller(current));
      return;
    }
    const before = signedIn(ctx);
    const active = await ctx.services.sessionGuard.check(before.sessionId, before.tenantId, before.userId);
    const caller = callerFrom(active, { tokenId: before.tokenId, expiresAt: before.tokenExpiresAt });
    this.options.authorize(caller);
    // Fresh loaders and a fresh permission cache for this event, with the caller as they are now.
    Object.assign(ctx, ctx.withCaller(caller));
  }
}
