import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisConfig } from '../../config.js';
import type { Logger } from '../../kernel/logger.js';
import { openRedis, type RedisClient, type RedisHealth } from '../../kernel/redis.js';

/** What a committed write changed, so that every instance drops what it remembers of it. */
export type Invalidation =
  | { kind: 'keys'; entity: CachedEntity; tenantId: string; ids: string[] }
  /** Everything remembered about one tenant (it was deleted). */
  | { kind: 'tenant'; tenantId: string };

export type CachedEntity = 'user' | 'tenant' | 'session' | 'serviceAccount' | 'apiKey';

/**
 * Carries invalidations between the instances of one deployment. `publish` applies a change here
 * and resolves once every other live instance has applied it too (or a short deadline passed),
 * so a writer that awaits it answers its client only when no instance serves the old value.
 *
 * An instance may use its in-process cache only while `live`: while it could be missing
 * messages (starting, Redis down, reconnecting) it asks the shared cache or the database, and it
 * starts again from an empty in-process cache once it is sure to hear everything.
 */
export interface InvalidationBus {
  readonly live: boolean;
  /** Counts applied changes (and restarts); a load that saw it move must not fill the cache. */
  readonly epoch: number;
  /** Published invalidations whose writer stopped waiting before every instance confirmed. */
  readonly unconfirmed: number;
  publish(changes: Invalidation[]): Promise<void>;
  /** `change` is undefined when everything must be forgotten. */
  onApply(handler: (change: Invalidation | undefined) => void): void;
  close(): void;
}

abstract class BaseBus {
  #epoch = 0;
  readonly #handlers: ((change: Invalidation | undefined) => void)[] = [];

  get epoch(): number {
    return this.#epoch;
  }

  onApply(handler: (change: Invalidation | undefined) => void): void {
    this.#handlers.push(handler);
  }

  protected apply(change: Invalidation | undefined): void {
    this.#epoch += 1;
    for (const handler of this.#handlers) handler(change);
  }
}

/** One process is the whole deployment (no Redis): changes apply here and that is all. */
export class LocalInvalidationBus extends BaseBus implements InvalidationBus {
  readonly live = true;
  readonly unconfirmed = 0;

  async publish(changes: Invalidation[]): Promise<void> {
    for (const change of changes) this.apply(change);
  }

  close(): void {}
}

/** How long a writer waits for the other instances to confirm an invalidation. */
const ACK_TIMEOUT_MS = 500;

interface Message {
  from: string;
  id: string;
  changes: Invalidation[];
}

/**
 * Invalidations over Redis pub/sub. Each message is confirmed by every instance that applied it
 * (PUBLISH says how many subscribers received it; each answers on the sender's own channel), so
 * the writer knows when it may answer. On Redis Cluster, PUBLISH counts only the subscribers of
 * the node it reached, so there the writer asks every node how many subscribers it has.
 */
export class RedisInvalidationBus extends BaseBus implements InvalidationBus {
  readonly #instance = randomUUID();
  readonly #channel: string;
  readonly #ackChannel: string;
  readonly #subscriber: RedisClient;
  /**
   * Confirmations per published message. Registered before publishing: a confirmation travels on
   * the subscriber connection and may arrive before PUBLISH's own reply says how many to expect.
   */
  readonly #waiting = new Map<string, { confirmed: number; expected?: number; done?: () => void }>();
  #unconfirmed = 0;
  #subscribed = false;
  #live = false;
  #closed = false;
  #warned = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly health: RedisHealth,
    config: RedisConfig,
    private readonly logger: Logger,
  ) {
    super();
    this.#channel = `${config.keyPrefix}cache:invalidate`;
    this.#ackChannel = `${this.#channel}:ack:${this.#instance}`;
    // Subscribing waits for the connection; we resubscribe ourselves to know when it is live.
    this.#subscriber = openRedis(config, {
      enableOfflineQueue: true,
      autoResubscribe: false,
      maxRetriesPerRequest: null,
    });
    const offline = () => {
      this.#subscribed = false;
      this.#update();
    };
    this.#subscriber.on('close', offline);
    this.#subscriber.on('reconnecting', offline);
    this.#subscriber.on('error', (error: Error) => {
      offline();
      if (!this.#warned) {
        logger.warn(
          { err: { message: error.message } },
          'cache invalidations are not shared while Redis is unreachable: reading through to PostgreSQL',
        );
      }
      this.#warned = true;
    });
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.#channel, this.#ackChannel).then(
        () => {
          this.#subscribed = true;
          this.#warned = false;
          this.#update();
        },
        () => offline(),
      );
    });
    this.#subscriber.on('message', (channel: string, text: string) => this.#receive(channel, text));
    health.on('down', () => this.#update());
    health.on('up', () => this.#update());
  }

  get live(): boolean {
    return this.#live;
  }

  /** How many invalidations this instance published whose writer gave up waiting for a confirmation. */
  get unconfirmed(): number {
    return this.#unconfirmed;
  }

  async publish(changes: Invalidation[]): Promise<void> {
    for (const change of changes) this.apply(change);
    if (this.#closed || changes.length === 0) return;
    const id = randomUUID();
    this.#waiting.set(id, { confirmed: 0 });
    let others: number;
    try {
      const receivers = await this.redis.publish(
        this.#channel,
        JSON.stringify({ from: this.#instance, id, changes } satisfies Message),
      );
      others = (await this.#receiverCount(receivers)) - (this.#subscribed ? 1 : 0);
    } catch (error) {
      this.#waiting.delete(id);
      // Instances that cannot hear us cannot be subscribed either: they are not caching.
      this.logger.warn(
        { err: { message: (error as Error).message } },
        'could not share a cache invalidation',
      );
      return;
    }
    await this.#awaitAcks(id, others);
  }

  /** Every instance that hears the channel; on a Cluster each node only knows its own. */
  async #receiverCount(published: number): Promise<number> {
    if (!(this.redis instanceof Cluster)) return published;
    const counts = await Promise.all(
      this.redis.nodes('all').map((node) =>
        node.pubsub('NUMSUB', this.#channel).then(
          (reply) => Number((reply as unknown[])[1] ?? 0),
          () => 0,
        ),
      ),
    );
    return Math.max(
      published,
      counts.reduce((sum, n) => sum + n, 0),
    );
  }

  close(): void {
    this.#closed = true;
    this.#subscriber.disconnect();
    for (const waiter of this.#waiting.values()) waiter.done?.();
  }

  /** Live while subscribed and Redis answers; each return to live starts from an empty cache. */
  #update(): void {
    const live = this.#subscribed && this.health.available && !this.#closed;
    if (live === this.#live) return;
    this.#live = live;
    this.apply(undefined);
  }

  /** Resolves once `expected` instances confirmed message `id` (some may have already). */
  #awaitAcks(id: string, expected: number): Promise<void> {
    const waiter = this.#waiting.get(id);
    if (!waiter || waiter.confirmed >= expected) {
      this.#waiting.delete(id);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        this.#unconfirmed += 1;
        this.logger.debug({ id }, 'not every instance confirmed a cache invalidation in time');
        resolve();
      }, ACK_TIMEOUT_MS);
      waiter.expected = expected;
      waiter.done = () => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve();
      };
    });
  }

  #receive(channel: string, text: string): void {
    if (channel === this.#ackChannel) {
      const waiter = this.#waiting.get(text);
      if (!waiter) return;
      waiter.confirmed += 1;
      if (waiter.expected !== undefined && waiter.confirmed >= waiter.expected) waiter.done?.();
      return;
    }
    if (channel !== this.#channel) return;
    const message = parseMessage(text);
    if (!message) {
      // Unreadable: it may have been about anything, so forget everything.
      this.apply(undefined);
      return;
    }
    if (message.from === this.#instance) return;
    for (const change of message.changes) this.apply(change);
    this.redis.publish(`${this.#channel}:ack:${message.from}`, message.id).catch(() => {});
  }
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const ENTITIES = new Set<unknown>(['user', 'tenant', 'session', 'serviceAccount', 'apiKey']);

function parseMessage(text: string): Message | undefined {
  let value: { from?: unknown; id?: unknown; changes?: unknown };
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isString(value?.from) || !isString(value.id) || !Array.isArray(value.changes)) return undefined;
  const changes: Invalidation[] = [];
  for (const change of value.changes as Record<string, unknown>[]) {
    if (typeof change !== 'object' || change === null || !isString(change.tenantId)) return undefined;
    if (change.kind === 'tenant') changes.push({ kind: 'tenant', tenantId: change.tenantId });
    else if (
      change.kind === 'keys' &&
      ENTITIES.has(change.entity) &&
      Array.isArray(change.ids) &&
      change.ids.every(isString)
    ) {
      changes.push({
        kind: 'keys',
        entity: change.entity as CachedEntity,
        tenantId: change.tenantId,
        ids: change.ids,
      });
    } else return undefined;
  }
  return { from: value.from, id: value.id, changes };
}
