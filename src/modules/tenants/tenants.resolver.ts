import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { TenantRow, UserRow } from '../../db/schema.js';
import { reachesTenant, requireRoleOrScope } from '../../kernel/caller.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { ForbiddenError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import type { Connection } from '../../kernel/pagination.js';
import { tenantSettings } from './settings.js';
import { CreateTenantInput, UpdateTenantInput } from './tenants.inputs.js';
import { createTenant, deleteTenant, listAllTenants, updateTenant } from './tenants.service.js';
import type { TenantStatsValue } from './tenants.stats.queries.js';
import {
  CreateTenantPayload,
  PublicTenantInfo,
  Tenant,
  TenantConnection,
  TenantSettings,
  TenantStats,
} from './tenants.types.js';

/**
 * The rule of Tenant.settings and Tenant.stats (administersTenant, or a service's tenant:read),
 * checked again where they are read.
 */
function requireTenantAdmin(ctx: Context, tenant: TenantRow): void {
  requireRoleOrScope(ctx.caller, 'ADMIN', 'tenant:read');
  if (!reachesTenant(ctx.caller, tenant.id)) throw new ForbiddenError();
}

@Resolver(() => Tenant)
export class TenantsResolver {
  @Query(() => PublicTenantInfo, { nullable: true, description: 'Public: no token needed.' })
  async tenantInfo(
    @Arg('slug', () => String) slug: string,
    @Ctx() ctx: Context,
  ): Promise<PublicTenantInfo | null> {
    const tenant = await ctx.services.cache.tenantBySlug(slug.trim().toLowerCase());
    if (tenant?.status !== 'ACTIVE') return null;
    const settings = tenantSettings(tenant);
    return {
      slug: tenant.slug,
      name: tenant.name,
      allowSelfRegistration: settings.allowSelfRegistration,
      passwordMinLength: settings.passwordMinLength,
    };
  }

  @Query(() => Tenant, {
    nullable: true,
    description: "The caller's tenant when id is omitted; other tenants for system ADMINs only.",
  })
  tenant(
    @Ctx() ctx: SignedInContext,
    @Arg('id', () => ID, { nullable: true }) id?: string | null,
  ): TenantRow | Promise<TenantRow | null> | null {
    const tenantId = id ?? ctx.caller.tenantId;
    // Another tenant's id answers exactly like one that does not exist.
    if (!isUuid(tenantId) || !reachesTenant(ctx.caller, tenantId)) return null;
    return ctx.loadersFor(tenantId).tenant(tenantId);
  }

  @Query(() => TenantConnection, { description: 'System ADMINs only.' })
  tenants(
    @Ctx() ctx: SignedInContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('search', () => String, { nullable: true }) search?: string | null,
  ): Promise<Connection<TenantRow>> {
    return listAllTenants(ctx.services, ctx.caller, { first, after, search });
  }

  @Mutation(() => CreateTenantPayload, { description: 'System ADMINs.' })
  createTenant(
    @Arg('input', () => CreateTenantInput) input: CreateTenantInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<{ tenant: TenantRow; admin: UserRow }> {
    return createTenant(ctx.services, ctx.caller, input, ctx.origin);
  }

  @Mutation(() => Tenant, { description: 'Tenant ADMINs (name, settings) and system ADMINs (also status).' })
  async updateTenant(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateTenantInput) input: UpdateTenantInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<TenantRow> {
    const tenant = await updateTenant(ctx.services, ctx.caller, id, input, ctx.origin);
    return ctx.loadersFor(tenant.id).rememberTenant(tenant);
  }

  @Mutation(() => Boolean, { description: 'System ADMINs. The system tenant itself cannot be deleted.' })
  deleteTenant(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return deleteTenant(ctx.services, ctx.caller, id, ctx.origin);
  }

  @FieldResolver(() => TenantSettings, { description: 'Tenant ADMINs and system ADMINs only.' })
  settings(@Root() tenant: TenantRow, @Ctx() ctx: Context): TenantSettings {
    requireTenantAdmin(ctx, tenant);
    return tenantSettings(tenant);
  }

  @FieldResolver(() => TenantStats, { description: 'Tenant ADMINs and system ADMINs only.' })
  async stats(@Root() tenant: TenantRow, @Ctx() ctx: SignedInContext): Promise<TenantStatsValue> {
    requireTenantAdmin(ctx, tenant);
    // A system ADMIN's page of tenants shares one batch: three queries for the whole page.
    const loader =
      ctx.caller.kind === 'user' && ctx.caller.isSystemAdmin
        ? ctx.platformLoaders().tenantStats
        : ctx.loadersFor(tenant.id).tenantStats;
    const stats = await loader.load(tenant.id);
    if (!stats) throw new NotFoundError('Tenant');
    return stats;
  }
}
