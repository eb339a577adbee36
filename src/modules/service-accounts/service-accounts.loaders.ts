import DataLoader from 'dataloader';
import type { ApiKeyRow, ServiceAccountRow, ServiceAccountSecretRow } from '../../db/schema.js';
import type { Context } from '../../kernel/context.js';
import { apiKeysOf, findServiceAccounts, secretsOf } from './service-accounts.queries.js';

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

const byContext = new WeakMap<object, Map<string, ServiceAccountLoaders>>();

/**
 * The loaders for rows of `tenantId`. Rows reach a resolver only through fields that already
 * decided the caller may see that tenant, and every query still filters by it.
 */
export function serviceAccountLoaders(ctx: Context, tenantId: string): ServiceAccountLoaders {
  // Apollo hands resolvers shallow copies of the context: its loaders object is the one
  // per-request value they all share (and it goes with the request).
  const key = ctx.loaders as object;
  let perRequest = byContext.get(key);
  if (!perRequest) {
    perRequest = new Map();
    byContext.set(key, perRequest);
  }
  let loaders = perRequest.get(tenantId);
  if (!loaders) {
    loaders = build(ctx, tenantId);
    perRequest.set(tenantId, loaders);
  }
  return loaders;
}
