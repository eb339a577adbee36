import { Arg, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import type { TenantRow } from '../../db/schema.js';
import type { Context } from '../../graphql/context.js';
import { tenantSettings } from './settings.js';
import { PublicTenantInfo, Tenant, TenantSettings } from './tenant.types.js';
import { findTenantBySlug } from './tenants.queries.js';

@Resolver(() => Tenant)
export class TenantsResolver {
  @Query(() => PublicTenantInfo, { nullable: true, description: 'Public: no token needed.' })
  async tenantInfo(
    @Arg('slug', () => String) slug: string,
    @Ctx() ctx: Context,
  ): Promise<PublicTenantInfo | null> {
    const tenant = await findTenantBySlug(ctx.services.db, slug.trim().toLowerCase());
    if (tenant?.status !== 'ACTIVE') return null;
    const settings = tenantSettings(tenant);
    return {
      slug: tenant.slug,
      name: tenant.name,
      allowSelfRegistration: settings.allowSelfRegistration,
      passwordMinLength: settings.passwordMinLength,
    };
  }

  @FieldResolver(() => TenantSettings, { description: 'Tenant ADMINs and system ADMINs only.' })
  settings(@Root() tenant: TenantRow): TenantSettings {
    return tenantSettings(tenant);
  }
}
