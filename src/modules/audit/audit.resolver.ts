import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { AuditEventRow } from '../../db/schema.js';
import { requireRoleOrScope, requireTenantReach } from '../../kernel/caller.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { BadUserInputError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type Connection, validateFirst } from '../../kernel/pagination.js';
import type { UserView } from '../cache/identity-cache.js';
import { User } from '../users/users.types.js';
import { listAuditEvents } from './audit.queries.js';
import { AuditEvent, AuditEventConnection, AuditEventFilter } from './audit.types.js';

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventConnection, {
    description: 'ADMINs (own tenant); system ADMINs may name tenantId. Newest first.',
  })
  async auditEvents(
    @Ctx() ctx: SignedInContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => AuditEventFilter, { nullable: true }) filter?: AuditEventFilter | null,
    @Arg('tenantId', () => ID, { nullable: true }) tenantId?: string | null,
  ): Promise<Connection<AuditEventRow>> {
    const size = validateFirst(first);
    // The permission rule decided this already; the same rule again, where the data is read.
    requireRoleOrScope(ctx.caller, 'ADMIN', 'audit:read');
    if (tenantId !== undefined && tenantId !== null && !isUuid(tenantId)) {
      throw BadUserInputError.field('tenantId', 'tenantId must be an id (a UUID).');
    }
    const scope = tenantId ?? ctx.caller.tenantId;
    requireTenantReach(ctx.caller, scope);
    // An unknown tenant has no events.
    // The trail may come from a read replica: a moment behind, never wrong.
    return listAuditEvents(ctx.services.readDb, scope, {
      filter: filter ?? {},
      first: size,
      after,
    });
  }

  @FieldResolver(() => User, {
    nullable: true,
    description: 'Null for anonymous events such as a failed login for an unknown email.',
  })
  actor(@Root() event: AuditEventRow, @Ctx() ctx: Context): UserView | null | Promise<UserView | null> {
    if (!event.actorId) return null;
    return ctx.loadersFor(event.tenantId).user(event.actorId);
  }
}
