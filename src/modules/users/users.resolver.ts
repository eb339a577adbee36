import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { SessionRow, TenantRow, UserRow } from '../../db/schema.js';
import type { Context } from '../../graphql/context.js';
import { NotFoundError } from '../../graphql/errors.js';
import { Session } from '../sessions/session.types.js';
import { Tenant } from '../tenants/tenant.types.js';
import { User } from './user.types.js';

@Resolver(() => User)
export class UserFieldsResolver {
  @FieldResolver(() => Tenant)
  async tenant(@Root() user: UserRow, @Ctx() ctx: Context): Promise<TenantRow> {
    const tenant = await ctx.loaders.tenantById.load(user.tenantId);
    if (!tenant) throw new NotFoundError('Tenant');
    return tenant;
  }

  @FieldResolver(() => [Session], {
    description: 'Active sessions. The user themself, MODERATORs and ADMINs of the tenant.',
  })
  sessions(@Root() user: UserRow, @Ctx() ctx: Context): Promise<SessionRow[]> {
    return ctx.loaders.activeSessionsByUserId.load(user.id);
  }
}
