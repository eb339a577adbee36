import { EventEmitter } from 'node:events';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { PubSub, type PubSubEngine } from 'graphql-subscriptions';
import type { RedisConfig } from '../../config.js';
import type { Logger } from '../../kernel/logger.js';
import { openRedis, type RedisClient, type RedisHealth } from '../../kernel/redis.js';

/** A live stream of one topic's events; `return()` unsubscribes. */
export type EventStream<T> = AsyncIterableIterator<T> & { return(): Promise<IteratorResult<T>> };

/**
 * Publish/subscribe for the GraphQL subscriptions: Redis channels (graphql-redis-subscriptions)
 * shared by every instance, or an in-process PubSub (graphql-subscriptions) without Redis. Either
 * way payloads travel as JSON, so subscribers get dates as strings on both.
 */
export class EventBus extends EventEmitter<{ availability: [boolean] }> {
  readonly #prefix: string;
  readonly #listening = new Map<string, number>();
  #available: boolean;

  private constructor(
    private readonly engine: PubSubEngine,
    prefix: string,
    private readonly logger: Logger,
    private readonly local: boolean,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    super();
    this.#prefix = `${prefix}events:`;
    this.#available = local;
  }

  static inProcess(logger: Logger): EventBus {
    return new EventBus(new PubSub<Record<string, never>>(), '', logger, true);
  }

  /**
   * Over Redis: the publisher is the shared command connection, the subscriber a connection of its
   * own that queues (un)subscriptions while Redis is away. Subscriptions are `available` while
   * that connection is subscribed-capable and Redis answers.
   */
  static overRedis(redis: RedisClient, health: RedisHealth, config: RedisConfig, logger: Logger): EventBus {
    const subscriber = openRedis(config, { enableOfflineQueue: true, maxRetriesPerRequest: null });
    subscriber.on('error', () => {}); // The command connection and RedisHealth report outages.
    // RedisPubSub does not await (un)subscribe; a connection closed under them must not crash us.
    for (const method of ['unsubscribe', 'punsubscribe'] as const) {
      const original = subscriber[method].bind(subscriber) as (...args: unknown[]) => Promise<unknown>;
      (subscriber as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        original(...args).catch(() => undefined);
    }
    const engine = new RedisPubSub({ publisher: redis, subscriber });
    const bus = new EventBus(engine, config.keyPrefix, logger, false, async () => {
      subscriber.disconnect();
    });
    const update = () => bus.#setAvailable(subscriber.status === 'ready' && health.available);
    subscriber.on('ready', update);
    subscriber.on('close', update);
    health.on('down', update);
    health.on('up', update);
    update();
    return bus;
  }

  /** False while events cannot be delivered (Redis unreachable): subscriptions are refused then. */
  get available(): boolean {
    return this.#available;
  }

  /** Never rejects: a lost event is logged, the change it announces stands. */
  async publish(topic: string, payload: object): Promise<void> {
    try {
      // In process, the same JSON trip as through Redis, so subscribers see the same shapes.
      const message = this.local ? JSON.parse(JSON.stringify(payload)) : payload;
      await this.engine.publish(this.#prefix + topic, message);
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message }, topic }, 'could not publish an event');
    }
  }

  /** Resolves once subscribed: every event published after that reaches the stream. */
  async listen<T>(topic: string, maxQueued = 1_000): Promise<EventStream<T>> {
    const stream = new QueueStream<T>(maxQueued);
    const id = await this.engine.subscribe(this.#prefix + topic, (message: T) => stream.push(message), {});
    this.#listening.set(topic, (this.#listening.get(topic) ?? 0) + 1);
    stream.onEnd(() => {
      const left = (this.#listening.get(topic) ?? 1) - 1;
      if (left > 0) this.#listening.set(topic, left);
      else this.#listening.delete(topic);
      this.engine.unsubscribe(id);
    });
    return stream;
  }

  /** Streams of this process listening on `topic` (subscribed and not yet ended). */
  listening(topic: string): number {
    return this.#listening.get(topic) ?? 0;
  }

  async close(): Promise<void> {
    this.removeAllListeners();
    await this.onClose();
  }

  #setAvailable(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    this.emit('availability', available);
  }
}

/**
 * Events queued until the subscriber pulls them. A subscriber that falls `maxQueued` events
 * behind is ended with an error rather than buffering without bound.
 */
class QueueStream<T> implements EventStream<T> {
  readonly #queue: T[] = [];
  readonly #waiting: ((result: IteratorResult<T>) => void)[] = [];
  #failed: ((error: Error) => void)[] = [];
  #error: Error | undefined;
  #ended = false;
  #onEnd: (() => void) | undefined;

  constructor(private readonly maxQueued: number) {}

  onEnd(callback: () => void): void {
    this.#onEnd = callback;
  }

  push(value: T): void {
    if (this.#ended) return;
    const waiter = this.#waiting.shift();
    this.#failed.shift();
    if (waiter) waiter({ value, done: false });
    else if (this.#queue.length >= this.maxQueued) {
      this.#error = new Error('The subscriber fell too far behind; subscribe again.');
      this.#end();
    } else this.#queue.push(value);
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.#queue.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiting.push(resolve);
      this.#failed.push(reject);
    });
  }

  async return(): Promise<IteratorResult<T>> {
    this.#queue.length = 0;
    this.#end();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiting = this.#waiting.splice(0);
    const failed = this.#failed.splice(0);
    if (this.#error) for (const reject of failed) reject(this.#error);
    else for (const resolve of waiting) resolve({ value: undefined, done: true });
    try {
      this.#onEnd?.();
    } catch {
      // Already unsubscribed.
    }
  }
}
