import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { SessionRow, TenantRow, UserRow } from '../../db/schema.js';
import { requireRoleOrScope } from '../../kernel/caller.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { BadUserInputError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import type { Connection } from '../../kernel/pagination.js';
import type { UserView } from '../cache/identity-cache.js';
import { Session } from '../sessions/sessions.types.js';
import {
  DEFAULT_SESSIONS_PAGE,
  MAX_SESSIONS_PAGE,
  newest,
  sessionsPageSize,
} from '../sessions/sessions.validation.js';
import { Tenant } from '../tenants/tenants.types.js';
import { visibleUserTenant } from './users.access.js';
import { CreateUserInput, UpdateUserInput, UserFilter, UserOrder } from './users.inputs.js';
import { createUser, deleteUser, listTenantUsers, unlockUser, updateUser } from './users.service.js';
import { User, UserConnection } from './users.types.js';

/** Remembers a written row so the rest of the answer does not read it again. */
const remembered = (ctx: Context, user: UserRow): UserRow => ctx.loadersFor(user.tenantId).rememberUser(user);

/** usersByIds: a bounded list, like every page. */
const MAX_IDS = 100;

@Resolver(() => User)
export class UsersResolver {
  @Query(() => User, {
    nullable: true,
    description:
      "Null when no such user exists in the caller's tenant (any tenant for system ADMINs); never reveals other tenants.",
  })
  async user(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<UserView | null> {
    requireRoleOrScope(ctx.caller, 'MODERATOR', 'users:read');
    const tenantId = await visibleUserTenant(ctx.services, ctx.caller, id);
    return tenantId ? ctx.loadersFor(tenantId).user(id) : null;
  }

  @Query(() => [User], {
    nullable: 'items',
    description:
      'v2. Up to 100 ids; the answer has one entry per id, in order, null where no such user is visible to the caller. MODERATORs, ADMINs, services with users:read.',
  })
  async usersByIds(
    @Arg('ids', () => [ID]) ids: string[],
    @Ctx() ctx: SignedInContext,
  ): Promise<(UserView | null)[]> {
    requireRoleOrScope(ctx.caller, 'MODERATOR', 'users:read');
    if (ids.length > MAX_IDS) {
      throw BadUserInputError.field('ids', `At most ${MAX_IDS} ids per request.`);
    }
    // The caller's own tenant first, as one batch; the ids not found there are then looked up
    // where the caller may know them to be (for anyone but a system-wide caller that is their own
    // tenant again, whose answer the loader already holds).
    const own = await Promise.all(ids.map((id) => (isUuid(id) ? ctx.loaders.user(id) : null)));
    return Promise.all(
      own.map(async (user, i) => {
        if (user) return user;
        const id = ids[i] as string;
        const tenantId = await visibleUserTenant(ctx.services, ctx.caller, id);
        return tenantId ? ctx.loadersFor(tenantId).user(id) : null;
      }),
    );
  }

  @Query(() => UserConnection, { description: 'MODERATORs and ADMINs. tenantId: system ADMINs only.' })
  async users(
    @Ctx() ctx: SignedInContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('filter', () => UserFilter, { nullable: true }) filter?: UserFilter | null,
    @Arg('orderBy', () => UserOrder, { nullable: true }) orderBy?: UserOrder | null,
    @Arg('tenantId', () => ID, { nullable: true }) tenantId?: string | null,
    @Info() info?: GraphQLResolveInfo,
  ): Promise<Connection<UserView>> {
    const scope = tenantId ?? ctx.caller.tenantId;
    if (scope !== ctx.caller.tenantId) {
      // loadersFor refuses everyone but system ADMINs; their unknown tenant is NOT_FOUND.
      const tenant = isUuid(scope) ? await ctx.loadersFor(scope).tenant(scope) : null;
      if (!tenant) throw new NotFoundError('Tenant');
    }
    const page = await listTenantUsers(ctx.services, ctx.caller, scope, { first, after, filter, orderBy });
    // What the rows ask for (their sessions), read for the whole page now so that no row waits.
    if (info) await ctx.loadersFor(scope).prefetchUsersPage(info, page.nodes);
    return page;
  }

  @Mutation(() => User, { description: 'ADMINs.' })
  async createUser(
    @Arg('input', () => CreateUserInput) input: CreateUserInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<UserRow> {
    return remembered(ctx, await createUser(ctx.services, ctx.caller, input, ctx.origin));
  }

  @Mutation(() => User, { description: 'ADMINs; MODERATORs may change only the status of USERs and GUESTs.' })
  async updateUser(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateUserInput) input: UpdateUserInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<UserRow> {
    return remembered(ctx, await updateUser(ctx.services, ctx.caller, id, input, ctx.origin));
  }

  @Mutation(() => Boolean, { description: 'ADMINs.' })
  deleteUser(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return deleteUser(ctx.services, ctx.caller, id, ctx.origin);
  }

  @Mutation(() => User, { description: 'ADMINs and MODERATORs: clears a lockout.' })
  async unlockUser(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<UserRow> {
    return remembered(ctx, await unlockUser(ctx.services, ctx.caller, id, ctx.origin));
  }

  // Nested fields resolve through the loaders of the row's own tenant, so a system ADMIN reading
  // another tenant's user sees that user's tenant and sessions.
  @FieldResolver(() => Tenant)
  tenant(@Root() user: UserRow, @Ctx() ctx: Context): TenantRow | Promise<TenantRow> {
    return ctx.loadersFor(user.tenantId).existingTenant(user.tenantId);
  }

  /** A lock that has run out is no lock: the stored time stays until the next attempt clears it. */
  @FieldResolver(() => Date, {
    nullable: true,
    description: 'Set while the account is locked after too many failed logins.',
  })
  lockedUntil(@Root() user: Pick<UserRow, 'lockedUntil'>, @Ctx() ctx: Context): Date | null {
    if (!user.lockedUntil) return null;
    const until = new Date(user.lockedUntil);
    return until > ctx.services.clock.now() ? until : null;
  }

  @FieldResolver(() => [Session], {
    description: `Active sessions, oldest first: the newest \`first\` (1 to ${MAX_SESSIONS_PAGE}, default ${DEFAULT_SESSIONS_PAGE}). The user themself, MODERATORs and ADMINs of the tenant.`,
  })
  sessions(
    @Root() user: UserRow,
    @Ctx() ctx: Context,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_SESSIONS_PAGE }) first: number,
  ): SessionRow[] | Promise<SessionRow[]> {
    const self = ctx.caller?.kind === 'user' && ctx.caller.userId === user.id;
    if (!self) requireRoleOrScope(ctx.caller, 'MODERATOR', 'sessions:read');
    const size = sessionsPageSize(first);
    const active = ctx.loadersFor(user.tenantId).activeSessions(user.id);
    return Array.isArray(active) ? newest(active, size) : active.then((list) => newest(list, size));
  }
}
