import DataLoader from 'dataloader';
import type { Db } from '../../db/client.js';
import type { TenantRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import type { PlatformLoaders } from '../../kernel/context.js';
import { NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import type { IdentityCache } from '../cache/identity-cache.js';
import { loadTenantStats, type TenantStatsValue } from './tenants.stats.queries.js';

declare module '../../kernel/context.js' {
  /**
   * A request's tenant loaders see only the tenant they were built for: its row comes through the
   * identity cache, and any other id finds nothing.
   */
  interface Loaders {
    /**
     * The tenant, or null: without waiting when this process holds it (every user on a page
     * names the same tenant, and a promise per row costs more than the lookup), else batched.
     */
    tenant(id: string): TenantRow | null | Promise<TenantRow | null>;
    /** As `tenant`, for a tenant that must exist: NOT_FOUND otherwise. */
    existingTenant(id: string): TenantRow | Promise<TenantRow>;
    /** A tenant row this request has just written: the rest of its answer reads that one. */
    rememberTenant<T extends TenantRow>(tenant: T): T;
    readonly tenantStats: DataLoader<string, TenantStatsValue | null>;
  }

  /** Loaders that span tenants; only a system ADMIN's context ever builds them. */
  interface PlatformLoaders {
    tenantStats: DataLoader<string, TenantStatsValue | null>;
  }
}

export interface TenantLoaderDeps {
  /** Statistics only: they may lag (see Deps.readDb). */
  readDb: Db;
  cache: IdentityCache;
  clock: Clock;
}

const tenantNotFound = () => new NotFoundError('Tenant');

/**
 * One request's tenant loaders for one tenant. Each DataLoader is built on its first use: most
 * requests touch one of them or none.
 */
export class TenantLoaders {
  #tenantById?: DataLoader<string, TenantRow | null>;
  #tenantStats?: DataLoader<string, TenantStatsValue | null>;

  constructor(
    private readonly deps: TenantLoaderDeps,
    readonly tenantId: string | null,
  ) {}

  tenant(id: string): TenantRow | null | Promise<TenantRow | null> {
    return this.tenantInMemory(id) ?? this.tenantById.load(id);
  }

  existingTenant(id: string): TenantRow | Promise<TenantRow> {
    return (
      this.tenantInMemory(id) ??
      this.tenantById.load(id).then((tenant) => {
        if (!tenant) throw tenantNotFound();
        return tenant;
      })
    );
  }

  /** This tenant's row if this process holds it, without waiting. */
  private tenantInMemory(id: string): TenantRow | undefined {
    return id === this.tenantId ? this.deps.cache.tenants.peek(id, id) : undefined;
  }

  rememberTenant<T extends TenantRow>(tenant: T): T {
    this.tenantById.clear(tenant.id).prime(tenant.id, tenant);
    return tenant;
  }

  private get tenantById(): DataLoader<string, TenantRow | null> {
    this.#tenantById ??= new DataLoader(async (ids) => {
      const { tenantId, deps } = this;
      // A tenant-scoped request only ever sees its own tenant row.
      if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
      const tenant = (await deps.cache.tenant(tenantId)) ?? null;
      return ids.map((id) => (id === tenantId ? tenant : null));
    });
    return this.#tenantById;
  }

  get tenantStats(): DataLoader<string, TenantStatsValue | null> {
    this.#tenantStats ??= new DataLoader(async (ids) => {
      const { tenantId, deps } = this;
      if (tenantId === null || !ids.includes(tenantId)) return ids.map(() => null);
      const stats = await loadTenantStats(deps.readDb, [tenantId], deps.clock.now());
      return ids.map((id) => stats.get(id) ?? null);
    });
    return this.#tenantStats;
  }
}

/** Statistics of a whole page of tenants in three queries instead of three per tenant. */
export function createPlatformLoaders(deps: Pick<TenantLoaderDeps, 'readDb' | 'clock'>): PlatformLoaders {
  const tenantStats = new DataLoader<string, TenantStatsValue | null>(async (ids) => {
    const stats = await loadTenantStats(deps.readDb, ids.filter(isUuid), deps.clock.now());
    return ids.map((id) => stats.get(id) ?? null);
  });
  return { tenantStats };
}
