import { Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import type { ServiceAccountRow, TenantRow } from '../../db/schema.js';
import { requireSignedIn } from '../../kernel/caller.js';
import type { Context } from '../../kernel/context.js';
import type { UserView } from '../cache/identity-cache.js';
import { Tenant } from '../tenants/tenants.types.js';
import { User } from '../users/users.types.js';
import { serviceAccountLoaders } from './service-accounts.loaders.js';
import { ServiceAccount, Viewer } from './service-accounts.types.js';

/** `viewer`: the caller, a person or a service, as the operation started with it. */
@Resolver(() => Viewer)
export class ViewerResolver {
  @Query(() => Viewer, { description: 'v2. The caller, user or service.' })
  viewer(@Ctx() ctx: Context): Viewer {
    return { caller: requireSignedIn(ctx.caller) };
  }

  @FieldResolver(() => User, { nullable: true })
  user(@Root() viewer: Viewer, @Ctx() ctx: Context): UserView | null | Promise<UserView | null> {
    const { caller } = viewer;
    if (caller.kind !== 'user') return null;
    return ctx.loaders.user(caller.userId);
  }

  @FieldResolver(() => ServiceAccount, { nullable: true })
  serviceAccount(@Root() viewer: Viewer, @Ctx() ctx: Context): Promise<ServiceAccountRow | null> | null {
    const { caller } = viewer;
    if (caller.kind !== 'service') return null;
    return serviceAccountLoaders(ctx, caller.tenantId).accountById.load(caller.serviceAccountId);
  }

  @FieldResolver(() => Tenant)
  tenant(@Root() viewer: Viewer, @Ctx() ctx: Context): TenantRow | Promise<TenantRow> {
    return ctx.loaders.existingTenant(viewer.caller.tenantId);
  }

  @FieldResolver(() => [String], { description: "A service caller's scopes; empty for users." })
  scopes(@Root() viewer: Viewer): readonly string[] {
    return viewer.caller.kind === 'service' ? viewer.caller.scopes : [];
  }
}
