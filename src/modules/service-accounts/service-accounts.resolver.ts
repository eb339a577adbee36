import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { ApiKeyRow, ServiceAccountRow, ServiceAccountSecretRow, TenantRow } from '../../db/schema.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { NotFoundError } from '../../kernel/errors.js';
import type { Connection } from '../../kernel/pagination.js';
import { bounded } from '../abuse/query-limits.js';
import { Tenant } from '../tenants/tenants.types.js';
import { clientIdOf } from './credentials.js';
import {
  CreateApiKeyInput,
  CreateServiceAccountInput,
  RotateServiceAccountSecretInput,
  UpdateServiceAccountInput,
} from './service-accounts.inputs.js';
import { serviceAccountLoaders } from './service-accounts.loaders.js';
import {
  createApiKey,
  createServiceAccount,
  deleteServiceAccount,
  findReachableServiceAccount,
  listTenantServiceAccounts,
  revokeApiKey,
  rotateServiceAccountSecret,
  type ServiceAccountDeps,
  serviceAccountDeps,
  updateServiceAccount,
} from './service-accounts.service.js';
import {
  ApiKey,
  ClientSecretInfo,
  CreatedApiKey,
  ServiceAccount,
  ServiceAccountConnection,
  ServiceAccountCredentials,
} from './service-accounts.types.js';

function deps(ctx: Context): ServiceAccountDeps {
  return serviceAccountDeps(ctx.services);
}

function credentials(issued: { account: ServiceAccountRow; clientId: string; clientSecret: string }) {
  return { serviceAccount: issued.account, clientId: issued.clientId, clientSecret: issued.clientSecret };
}

@Resolver(() => ServiceAccount)
export class ServiceAccountsResolver {
  @Query(() => ServiceAccountConnection, {
    description: 'v2. ADMINs (own tenant); system ADMINs may name tenantId.',
  })
  serviceAccounts(
    @Ctx() ctx: SignedInContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('tenantId', () => ID, { nullable: true }) tenantId?: string | null,
  ): Promise<Connection<ServiceAccountRow>> {
    return listTenantServiceAccounts(deps(ctx), ctx.caller, { first, after, tenantId });
  }

  @Query(() => ServiceAccount, {
    nullable: true,
    description: "v2. ADMINs; null when not in the caller's tenant.",
  })
  serviceAccount(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: SignedInContext,
  ): Promise<ServiceAccountRow | null> {
    return findReachableServiceAccount(deps(ctx), ctx.caller, id);
  }

  @Mutation(() => ServiceAccountCredentials)
  async createServiceAccount(
    @Arg('input', () => CreateServiceAccountInput) input: CreateServiceAccountInput,
    @Ctx() ctx: SignedInContext,
  ) {
    return credentials(await createServiceAccount(deps(ctx), ctx.caller, input, ctx.origin));
  }

  @Mutation(() => ServiceAccount)
  updateServiceAccount(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateServiceAccountInput) input: UpdateServiceAccountInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<ServiceAccountRow> {
    return updateServiceAccount(deps(ctx), ctx.caller, id, input, ctx.origin);
  }

  @Mutation(() => Boolean)
  deleteServiceAccount(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return deleteServiceAccount(deps(ctx), ctx.caller, id, ctx.origin);
  }

  @Mutation(() => ServiceAccountCredentials)
  async rotateServiceAccountSecret(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: SignedInContext,
    @Arg('input', () => RotateServiceAccountSecretInput, { nullable: true })
    input?: RotateServiceAccountSecretInput | null,
  ) {
    return credentials(await rotateServiceAccountSecret(deps(ctx), ctx.caller, id, input, ctx.origin));
  }

  @Mutation(() => CreatedApiKey)
  createApiKey(
    @Arg('input', () => CreateApiKeyInput) input: CreateApiKeyInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<{ apiKey: ApiKeyRow; key: string }> {
    return createApiKey(deps(ctx), ctx.caller, input, ctx.origin);
  }

  @Mutation(() => Boolean)
  revokeApiKey(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return revokeApiKey(deps(ctx), ctx.caller, id, ctx.origin);
  }

  @FieldResolver(() => Tenant)
  tenant(@Root() account: ServiceAccountRow, @Ctx() ctx: Context): TenantRow | Promise<TenantRow> {
    return ctx.loadersFor(account.tenantId).existingTenant(account.tenantId);
  }

  @FieldResolver(() => String, { description: 'The OAuth 2.0 client_id for POST /oauth/token.' })
  clientId(@Root() account: ServiceAccountRow): string {
    return clientIdOf(account.tenantId, account.id);
  }

  @FieldResolver(() => [ClientSecretInfo])
  secrets(@Root() account: ServiceAccountRow, @Ctx() ctx: Context): Promise<ServiceAccountSecretRow[]> {
    return serviceAccountLoaders(ctx, account.tenantId)
      .secretsByAccountId.load(account.id)
      .then((list) => bounded(list, 'ServiceAccount.secrets'));
  }

  @FieldResolver(() => [ApiKey])
  apiKeys(@Root() account: ServiceAccountRow, @Ctx() ctx: Context): Promise<ApiKeyRow[]> {
    return serviceAccountLoaders(ctx, account.tenantId)
      .apiKeysByAccountId.load(account.id)
      .then((list) => bounded(list, 'ServiceAccount.apiKeys'));
  }
}

@Resolver(() => ApiKey)
export class ApiKeysResolver {
  @FieldResolver(() => ServiceAccount)
  async serviceAccount(@Root() key: ApiKeyRow, @Ctx() ctx: Context): Promise<ServiceAccountRow> {
    const account = await serviceAccountLoaders(ctx, key.tenantId).accountById.load(key.serviceAccountId);
    if (!account) throw new NotFoundError('Service account');
    return account;
  }
}
