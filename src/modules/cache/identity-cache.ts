import type { Db } from '../../db/client.js';
import type { TenantRow, UserRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import { isUuid } from '../../kernel/ids.js';
import { LruCache } from '../../kernel/lru.js';
import { sessionStates, tenantBySlug, tenantsById, usersByIds } from './cache.queries.js';
import type { Invalidation, InvalidationBus } from './invalidation-bus.js';
import { type CacheCounters, type Codec, LayeredCache, type SharedLayer } from './layered-cache.js';

/**
 * A user as the caches and loaders hold it: without the password hash (it never leaves
 * PostgreSQL for Redis) and without the failed-login count (kept current by every attempt, and
 * read by sign-in from PostgreSQL only). Whoever needs either reads the row with findUserById.
 */
export type UserView = Omit<UserRow, 'passwordHash' | 'failedLoginCount'>;

/** What the token check needs of a session. Ended (or deleted) sessions stay ended. */
export interface SessionState {
  userId: string;
  expiresAt: Date;
  ended: boolean;
}

/** TTLs: L1 is a safety net behind invalidation; L2 bounds what an instance cut off from Redis missed. */
export const CACHE_TTLS = {
  l1Ms: 60_000,
  l2Ms: 10 * 60_000,
} as const;

const date = (value: unknown) => new Date(value as string);
const maybeDate = (value: unknown) => (value === null || value === undefined ? null : date(value));

const userCodec: Codec<UserView> = {
  encode: (user) => user,
  decode: (json) => {
    const u = json as Record<string, unknown>;
    return {
      ...(u as unknown as UserView),
      lockedUntil: maybeDate(u.lockedUntil),
      lastLoginAt: maybeDate(u.lastLoginAt),
      // Copies cached before the column existed lack it.
      mfaEnabled: u.mfaEnabled === true,
      emailVerifiedAt: maybeDate(u.emailVerifiedAt),
      createdAt: date(u.createdAt),
      updatedAt: date(u.updatedAt),
    };
  },
};

const tenantCodec: Codec<TenantRow> = {
  encode: (tenant) => tenant,
  decode: (json) => {
    const t = json as Record<string, unknown>;
    return { ...(t as unknown as TenantRow), createdAt: date(t.createdAt), updatedAt: date(t.updatedAt) };
  },
};

const sessionCodec: Codec<SessionState> = {
  encode: (session) => session,
  decode: (json) => {
    const s = json as Record<string, unknown>;
    return { userId: String(s.userId), expiresAt: date(s.expiresAt), ended: s.ended === true };
  },
};

export function toUserView(row: UserRow): UserView {
  const { passwordHash: _hash, failedLoginCount: _count, ...view } = row;
  return view;
}

/** What changed in one tenant, for `IdentityCache.invalidate`. */
export interface IdentityChange {
  tenantId: string;
  users?: readonly string[];
  sessions?: readonly string[];
  /** The tenant row itself changed. */
  tenant?: boolean;
  /** The tenant is gone: forget everything of it. */
  tenantDeleted?: boolean;
}

/**
 * The rows every request needs — session validity for the token check, users and tenants for
 * the loaders — behind one two-level cache each (see LayeredCache). Every lookup is scoped to a
 * tenant id that is part of the key, so nothing cached for one tenant answers for another.
 */
export class IdentityCache {
  readonly counters: CacheCounters = { hits: 0, misses: 0 };
  readonly users: LayeredCache<UserView>;
  readonly tenants: LayeredCache<TenantRow>;
  readonly sessions: LayeredCache<SessionState>;
  readonly #tenantIdsBySlug = new LruCache<string, string>(10_000);

  constructor(
    private readonly db: Db,
    clock: Clock,
    readonly bus: InvalidationBus,
    readonly shared: SharedLayer | undefined,
  ) {
    const common = { clock, bus, shared, counters: this.counters, l1TtlMs: CACHE_TTLS.l1Ms };
    const l2TtlMs = () => CACHE_TTLS.l2Ms;
    this.users = new LayeredCache({
      ...common,
      entity: 'user',
      maxEntries: 50_000,
      l2TtlMs,
      codec: userCodec,
    });
    this.tenants = new LayeredCache({
      ...common,
      entity: 'tenant',
      maxEntries: 10_000,
      l2TtlMs,
      codec: tenantCodec,
    });
    this.sessions = new LayeredCache({
      ...common,
      entity: 'session',
      maxEntries: 100_000,
      // An active session's entry never outlives the session itself.
      l2TtlMs: (session, now) =>
        session.ended ? CACHE_TTLS.l2Ms : Math.min(CACHE_TTLS.l2Ms, session.expiresAt.getTime() - now),
      codec: sessionCodec,
    });
  }

  /** Entries held in this process. */
  get localEntries(): number {
    return this.users.size + this.tenants.size + this.sessions.size;
  }

  /** False while this instance may miss invalidations and so reads through (see InvalidationBus). */
  get localCaching(): boolean {
    return this.bus.live;
  }

  async usersOf(tenantId: string, ids: readonly string[]): Promise<Map<string, UserView>> {
    const wanted = ids.filter(isUuid);
    if (!isUuid(tenantId) || wanted.length === 0) return new Map();
    return this.users.getMany(tenantId, wanted, async (missing) => {
      const rows = await usersByIds(this.db, tenantId, missing);
      return new Map(rows.map((row) => [row.id, toUserView(row)]));
    });
  }

  /**
   * A tenant by its slug (sign-in, sign-up, the public tenantInfo). A slug never changes, so this
   * process remembers which id it names and reads the row through the cache; a tenant deleted and
   * created again under the same slug has a new id, and is looked up afresh.
   */
  async tenantBySlug(slug: string): Promise<TenantRow | undefined> {
    const known = this.#tenantIdsBySlug.get(slug);
    if (known !== undefined) {
      const tenant = await this.tenant(known);
      if (tenant?.slug === slug) return tenant;
      this.#tenantIdsBySlug.delete(slug);
    }
    const row = await tenantBySlug(this.db, slug);
    if (row) this.#tenantIdsBySlug.set(slug, row.id);
    return row;
  }

  async tenant(tenantId: string): Promise<TenantRow | undefined> {
    if (!isUuid(tenantId)) return undefined;
    const found = await this.tenants.getMany(tenantId, [tenantId], async () => {
      const rows = await tenantsById(this.db, tenantId);
      return new Map(rows.map((row) => [row.id, row]));
    });
    return found.get(tenantId);
  }

  /** Sessions that no longer exist (cleaned up) come back as ended, and are remembered so. */
  async sessionsOf(tenantId: string, ids: readonly string[]): Promise<Map<string, SessionState>> {
    const wanted = ids.filter(isUuid);
    if (!isUuid(tenantId) || wanted.length === 0) return new Map();
    return this.sessions.getMany(tenantId, wanted, async (missing) => {
      const rows = await sessionStates(this.db, tenantId, missing);
      const states = new Map<string, SessionState>(
        missing.map((id) => [id, { userId: '', expiresAt: new Date(0), ended: true }]),
      );
      for (const row of rows) {
        states.set(row.id, { userId: row.userId, expiresAt: row.expiresAt, ended: row.endedAt !== null });
      }
      return states;
    });
  }

  /**
   * After a committed write: drops the changed rows from Redis, then from every instance's
   * memory, and resolves when all of that is done. Await it before answering the writer.
   */
  async invalidate(change: IdentityChange): Promise<void> {
    const { tenantId } = change;
    const changes: Invalidation[] = [];
    const drops: Promise<void>[] = [];
    if (change.users?.length) {
      changes.push({ kind: 'keys', entity: 'user', tenantId, ids: [...change.users] });
      drops.push(this.users.dropShared(tenantId, change.users));
    }
    if (change.sessions?.length) {
      changes.push({ kind: 'keys', entity: 'session', tenantId, ids: [...change.sessions] });
      drops.push(this.sessions.dropShared(tenantId, change.sessions));
    }
    if (change.tenant || change.tenantDeleted) {
      changes.push({ kind: 'keys', entity: 'tenant', tenantId, ids: [tenantId] });
      drops.push(this.tenants.dropShared(tenantId, [tenantId]));
    }
    if (change.tenantDeleted) changes.push({ kind: 'tenant', tenantId });
    await Promise.all(drops);
    await this.bus.publish(changes);
  }
}
