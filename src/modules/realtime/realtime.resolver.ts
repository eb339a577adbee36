import { Arg, Ctx, ID, Resolver, Root, Subscription } from 'type-graphql';
import type { AuditEventRow } from '../../db/schema.js';
import type { Context } from '../../kernel/context.js';
import { AuditEvent } from '../audit/audit.types.js';
import type { UserView } from '../cache/identity-cache.js';
import { User } from '../users/users.types.js';
import { SessionEndedEvent } from './realtime.types.js';
import { subscribeAuditEvents, subscribeSessionEnded, subscribeUserChanged } from './subscriptions.js';
import type { AuditEventPayload, SessionEndedPayload, UserChangedPayload } from './topics.js';

/**
 * Subscriptions, over graphql-ws on /graphql. The connection itself is authenticated when it
 * opens (src/app/ws.ts); each subscribe function authorizes its stream.
 */
@Resolver()
export class RealtimeResolver {
  @Subscription(() => SessionEndedEvent, {
    description: "The signed-in user's sessions that end, so an app can sign out at once.",
    subscribe: ({ context }) => subscribeSessionEnded(context as Context),
  })
  sessionEnded(@Root() event: SessionEndedPayload): SessionEndedEvent {
    return { sessionId: event.sessionId, userId: event.userId, reason: event.reason, at: new Date(event.at) };
  }

  @Subscription(() => User, {
    description:
      'Changes to one user (default: the signed-in user). Others: MODERATORs and ADMINs of that tenant. Each event is the user as the subscriber may see them now; the subscription completes when the user is deleted.',
    subscribe: ({ args, context }) => subscribeUserChanged(context as Context, args.id as string | null),
  })
  userChanged(
    @Root() event: UserChangedPayload,
    @Ctx() ctx: Context,
    @Arg('id', () => ID, { nullable: true }) _id?: string | null,
  ): UserView | Promise<UserView> {
    return ctx.loadersFor(event.tenantId).existingUser(event.userId);
  }

  @Subscription(() => AuditEvent, {
    description:
      "Live audit feed of the caller's tenant. ADMINs, and services holding audit:read; system ADMINs (and system-tenant services) may name tenantId. Events arrive once the change they record has committed.",
    subscribe: ({ args, context }) =>
      subscribeAuditEvents(context as Context, args.tenantId as string | null),
  })
  auditEventAdded(
    @Root() event: AuditEventPayload,
    @Arg('tenantId', () => ID, { nullable: true }) _tenantId?: string | null,
  ): AuditEventRow {
    return { ...event, createdAt: new Date(event.createdAt) };
  }
}
