import DataLoader from 'dataloader';
import type { ApiKeyRow, ServiceAccountRow, ServiceAccountSecretRow } from '../../db/schema.js';
import type { Context } from '../../kernel/context.js';
import { apiKeysOf, findServiceAccounts, secretsOf } from './service-accounts.queries.js';

declare module '../../kernel/context.js' {
  interface Loaders {
    /** This tenant's service accounts, set by `serviceAccountLoaders` when first needed. */
    serviceAccounts?: ServiceAccountLoaders;
  }
}

/** Per-request batch loaders of one tenant's service accounts, their secrets and keys. */
export interface ServiceAccountLoaders {
  accountById: DataLoader<string, ServiceAccountRow | null>;
  secretsByAccountId: DataLoader<string, ServiceAccountSecretRow[]>;
  apiKeysByAccountId: DataLoader<string, ApiKeyRow[]>;
}

function groupBy<T extends { serviceAccountId: string }>(ids: readonly string[], rows: T[]): T[][] {
  const byAccount = new Map<string, T[]>(ids.map((id) => [id, []]));
  for (const row of rows) byAccount.get(row.serviceAccountId)?.push(row);
  return ids.map((id) => byAccount.get(id) ?? []);
}

function build(ctx: Context, tenantId: string): ServiceAccountLoaders {
  const { db, clock } = ctx.services;
  return {
    accountById: new DataLoader(async (ids) => {
      const rows = await findServiceAccounts(db, tenantId, ids);
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    secretsByAccountId: new DataLoader(async (ids) =>
      groupBy(ids, await secretsOf(db, tenantId, ids, clock.now())),
    ),
    apiKeysByAccountId: new DataLoader(async (ids) => groupBy(ids, await apiKeysOf(db, tenantId, ids))),
  };
}

/**
 * The loaders for rows of `tenantId`. Rows reach a resolver only through fields that already
 * decided the caller may see that tenant, and every query still filters by it.
 */
export function serviceAccountLoaders(ctx: Context, tenantId: string): ServiceAccountLoaders {
  // The request's loaders of that tenant carry these, built on first use: most requests read no
  // service account. Apollo's shallow copies of the context share that same loaders object.
  const tenantLoaders = ctx.loadersFor(tenantId);
  tenantLoaders.serviceAccounts ??= build(ctx, tenantId);
  return tenantLoaders.serviceAccounts;
}
