import type { Logger } from '../../kernel/logger.js';
import type { RedisClient, RedisHealth } from '../../kernel/redis.js';

/**
 * WebAuthn challenges between the start and the finish of a ceremony: single use (taking one
 * deletes it) and short-lived. In Redis when there is one, so a ceremony may finish on another
 * instance than it started on; in this process otherwise (one instance), or while Redis is down.
 */
export class CeremonyStore {
  readonly #local = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly redis: RedisClient | undefined,
    private readonly health: RedisHealth | undefined,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async put(id: string, value: unknown, ttlMs: number): Promise<void> {
    const json = JSON.stringify(value);
    if (this.redis && this.health?.available !== false) {
      try {
        await this.redis.set(this.#key(id), json, 'PX', ttlMs);
        return;
      } catch (error) {
        this.logger.warn({ err: error }, 'could not store a passkey challenge in Redis; keeping it here');
      }
    }
    this.#sweep();
    this.#local.set(id, { value: json, expiresAt: this.now() + ttlMs });
  }

  /** The value stored under `id`, removed so that it can never be taken again. */
  async take<T>(id: string): Promise<T | undefined> {
    const local = this.#local.get(id);
    if (local) {
      this.#local.delete(id);
      return local.expiresAt > this.now() ? (JSON.parse(local.value) as T) : undefined;
    }
    if (!this.redis) return undefined;
    try {
      const json = await this.redis.getdel(this.#key(id));
      return json === null ? undefined : (JSON.parse(json) as T);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read a passkey challenge from Redis');
      return undefined;
    }
  }

  #key(id: string): string {
    return `webauthn:${id}`;
  }

  /** Bounded: expired entries go whenever a new one is stored. */
  #sweep(): void {
    if (this.#local.size < 1_000) return;
    const now = this.now();
    for (const [id, entry] of this.#local) if (entry.expiresAt <= now) this.#local.delete(id);
    if (this.#local.size >= 100_000) {
      const oldest = this.#local.keys().next().value;
      if (oldest !== undefined) this.#local.delete(oldest);
    }
  }
}
