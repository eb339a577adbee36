import type { Clock } from '../../kernel/clock.js';
import type { RedisClient, RedisHealth } from '../../kernel/redis.js';
import type { CachedEntity, InvalidationBus } from './invalidation-bus.js';

/** Lookups answered from memory or Redis (hits) and from PostgreSQL (misses), per instance. */
export interface CacheCounters {
  hits: number;
  misses: number;
}

export interface Codec<V> {
  encode(value: V): unknown;
  decode(json: unknown): V;
}

/**
 * Redis as the second level, shared by every instance. Keys carry the tenant id in a hash tag
 * (`c:{<tenant>}:user:<id>`), so one tenant's keys live in one Cluster slot and batch reads of a
 * tenant's rows are one MGET, and no lookup can ever produce another tenant's key.
 */
export class SharedLayer {
  /** Entries written before this (wall-clock ms) are not trusted: Redis was unreachable since. */
  notBefore = 0;
  /** Invalidations Redis did not take while it was away, replayed when it is back. */
  readonly #pending = new Map<string, string[]>();

  constructor(
    readonly redis: RedisClient,
    readonly health: RedisHealth,
  ) {
    defineScripts(redis);
    // Back after an outage: invalidations made meanwhile may have missed Redis, so what it holds
    // from before is not trusted (the first connection of a new instance trusts it: it missed nothing).
    let connectedBefore = health.available;
    health.on('up', () => {
      if (connectedBefore) this.notBefore = Date.now();
      connectedBefore = true;
      void this.#replay();
    });
  }

  get available(): boolean {
    return this.health.available;
  }

  async invalidate(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      if (!this.available) throw new Error('redis unavailable');
      await scripts(this.redis).cacheInvalidate(keys.length * 2, ...withVersions(keys), VERSION_TTL_MS);
    } catch {
      // Entries written before Redis comes back are ignored anyway; replaying drops them early.
      // Grouped by the tenant's hash tag: each group is one script call in one Cluster slot.
      const tenant = /\{[^}]*\}/.exec(keys[0] ?? '')?.[0] ?? '';
      this.#pending.set(tenant, [...new Set([...(this.#pending.get(tenant) ?? []), ...keys])].slice(-1_000));
    }
  }

  async #replay(): Promise<void> {
    const batches = [...this.#pending.values()];
    this.#pending.clear();
    for (const keys of batches) await this.invalidate(keys);
  }
}

/** Versions outlive any read racing an invalidation by far; they only guard those races. */
const VERSION_TTL_MS = 3_600_000;

export interface LayeredCacheOptions<V> {
  entity: CachedEntity;
  maxEntries: number;
  /** How long the in-process copy is trusted without hearing of a change (a safety net). */
  l1TtlMs: number;
  /** Redis TTL of one value (sessions: never beyond their expiry). */
  l2TtlMs(value: V, now: number): number;
  codec: Codec<V>;
  clock: Clock;
  bus: InvalidationBus;
  shared: SharedLayer | undefined;
  counters: CacheCounters;
}

/**
 * Rows every request needs, in two levels: an in-process map (L1, microseconds) in front of
 * Redis (L2, shared, with TTLs) in front of PostgreSQL. Writers invalidate after commit through
 * the bus (every instance's L1) and Redis (L2); a read racing a write can never put the old
 * value back: L1 fills are dropped when any invalidation arrived during the read, L2 fills go
 * through a script that writes only if the key's version did not move since the read began.
 */
export class LayeredCache<V> {
  readonly #l1 = new Map<string, { value: V; expiresAt: number }>();

  constructor(private readonly options: LayeredCacheOptions<V>) {
    options.bus.onApply((change) => {
      if (change === undefined) this.#l1.clear();
      else if (change.kind === 'tenant') this.#forgetTenant(change.tenantId);
      else if (change.entity === options.entity) {
        for (const id of change.ids) this.#l1.delete(`${change.tenantId}:${id}`);
      }
    });
  }

  get size(): number {
    return this.#l1.size;
  }

  /** The Redis key of one row. */
  key(tenantId: string, id: string): string {
    return `c:{${tenantId}}:${this.options.entity}:${id}`;
  }

  /**
   * The in-process copy alone, or undefined: lets the per-request token check finish without
   * waiting on anything when everything it needs is in memory.
   */
  peek(tenantId: string, id: string): V | undefined {
    const { bus, clock, counters } = this.options;
    if (!bus.live) return undefined;
    const entry = this.#l1.get(`${tenantId}:${id}`);
    if (!entry || entry.expiresAt <= clock.now().getTime()) return undefined;
    counters.hits += 1;
    return entry.value;
  }

  /** Values for `ids` of one tenant; `load` reads the ones no cache has from PostgreSQL. */
  async getMany(
    tenantId: string,
    ids: readonly string[],
    load: (ids: string[]) => Promise<Map<string, V>>,
  ): Promise<Map<string, V>> {
    const { bus, clock, counters, shared } = this.options;
    const found = new Map<string, V>();
    const now = clock.now().getTime();
    const useL1 = bus.live;
    let missing: string[] = [];
    for (const id of new Set(ids)) {
      const entry = useL1 ? this.#l1.get(`${tenantId}:${id}`) : undefined;
      if (entry && entry.expiresAt > now) {
        found.set(id, entry.value);
        counters.hits += 1;
      } else missing.push(id);
    }
    if (missing.length === 0) return found;

    const epoch = bus.epoch;
    const fill = (id: string, value: V) => {
      if (bus.live && bus.epoch === epoch) this.#remember(`${tenantId}:${id}`, value, now);
    };
    let versions: (string | null)[] | undefined;
    if (shared?.available) {
      const keys = missing.map((id) => this.key(tenantId, id));
      try {
        const replies = await shared.redis.mget(...keys, ...keys.map((key) => `${key}:v`));
        versions = replies.slice(keys.length);
        const stillMissing: string[] = [];
        missing.forEach((id, i) => {
          const value = this.#decode(replies[i], shared.notBefore);
          if (value === undefined) stillMissing.push(id);
          else {
            found.set(id, value);
            counters.hits += 1;
            fill(id, value);
          }
        });
        missing = stillMissing;
      } catch {
        versions = undefined; // Redis did not answer: read through, and write nothing back.
      }
    }
    if (missing.length === 0) return found;

    const loaded = await load(missing);
    counters.misses += missing.length;
    const keys: string[] = [];
    const args: string[] = [];
    for (const [i, id] of missing.entries()) {
      const value = loaded.get(id);
      if (value === undefined) continue; // Absent rows are not cached: creating one needs no invalidation.
      found.set(id, value);
      fill(id, value);
      if (versions) {
        const key = this.key(tenantId, id);
        keys.push(key, `${key}:v`);
        const entry = JSON.stringify({ c: Date.now(), v: this.options.codec.encode(value) });
        args.push(
          String(Math.max(1, Math.floor(this.options.l2TtlMs(value, now)))),
          versions[i] ?? '',
          entry,
        );
      }
    }
    if (keys.length > 0 && shared) {
      scripts(shared.redis)
        .cacheFill(keys.length, ...keys, ...args)
        .catch(() => {});
    }
    return found;
  }

  /** Drops rows here and in Redis; other instances' L1 hear of it through the bus. */
  async dropShared(tenantId: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#l1.delete(`${tenantId}:${id}`);
    await this.options.shared?.invalidate(ids.map((id) => this.key(tenantId, id)));
  }

  #decode(text: string | null | undefined, notBefore: number): V | undefined {
    if (!text) return undefined;
    try {
      const entry = JSON.parse(text) as { c?: number; v?: unknown };
      if (typeof entry.c !== 'number' || entry.c < notBefore) return undefined;
      return this.options.codec.decode(entry.v);
    } catch {
      return undefined;
    }
  }

  #remember(key: string, value: V, now: number): void {
    this.#l1.delete(key);
    this.#l1.set(key, { value, expiresAt: now + this.options.l1TtlMs });
    while (this.#l1.size > this.options.maxEntries) {
      const oldest = this.#l1.keys().next();
      if (oldest.done) break;
      this.#l1.delete(oldest.value);
    }
  }

  #forgetTenant(tenantId: string): void {
    const prefix = `${tenantId}:`;
    for (const key of this.#l1.keys()) if (key.startsWith(prefix)) this.#l1.delete(key);
  }
}

function withVersions(keys: string[]): string[] {
  return keys.flatMap((key) => [key, `${key}:v`]);
}

interface CacheScripts {
  cacheFill(keyCount: number, ...args: string[]): Promise<unknown>;
  cacheInvalidate(keyCount: number, ...args: (string | number)[]): Promise<unknown>;
}

const scripts = (redis: RedisClient) => redis as unknown as CacheScripts;

/** KEYS come in (value, version) pairs. */
function defineScripts(redis: RedisClient): void {
  if ('cacheFill' in redis) return;
  redis.defineCommand('cacheFill', {
    // ARGV per pair: ttl in ms, the version seen before reading PostgreSQL ('' for none), value.
    lua: `for i = 1, #KEYS, 2 do
  local j = (i - 1) / 2 * 3
  local current = redis.call('GET', KEYS[i + 1]) or ''
  if current == ARGV[j + 2] then redis.call('SET', KEYS[i], ARGV[j + 3], 'PX', ARGV[j + 1]) end
end
return 1`,
  });
  redis.defineCommand('cacheInvalidate', {
    // ARGV[1]: how long the bumped version is kept.
    lua: `for i = 1, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
end
return 1`,
  });
}
