import { EventEmitter } from 'node:events';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';
import type { Logger } from './logger.js';

/** A single server (also behind Sentinel) or a Cluster: the commands we use exist on both. */
export type RedisClient = Redis | Cluster;

/** How long one command may take before the caller treats Redis as unavailable. */
const COMMAND_TIMEOUT_MS = 1_000;

/**
 * Opens connections to the configured Redis: one server (REDIS_URL), a Cluster
 * (REDIS_CLUSTER_NODES) or the master a set of Sentinels names (REDIS_SENTINELS), all through
 * ioredis' own support. `options` tune one connection (subscribers queue their commands while
 * disconnected, command connections fail fast).
 */
export function openRedis(config: RedisConfig, options: Partial<RedisOptions> = {}): RedisClient {
  const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2_000);
  const shared: RedisOptions = {
    connectTimeout: 5_000,
    retryStrategy,
    ...(config.password ? { password: config.password } : {}),
    ...(config.tls ? { tls: {} } : {}),
    ...options,
  };
  if (config.mode === 'cluster') {
    const { keyPrefix, enableOfflineQueue, ...redisOptions } = shared;
    return new Cluster(config.clusterNodes, {
      keyPrefix,
      enableOfflineQueue: enableOfflineQueue ?? true,
      clusterRetryStrategy: retryStrategy,
      redisOptions,
    });
  }
  if (config.mode === 'sentinel') {
    return new Redis({
      ...shared,
      sentinels: config.sentinels,
      name: config.sentinelName,
      ...(config.sentinelPassword ? { sentinelPassword: config.sentinelPassword } : {}),
    });
  }
  if (!config.url) throw new Error('no Redis is configured');
  return new Redis(config.url, shared);
}

/**
 * The shared command connection, or none when no Redis is configured. Commands fail fast while
 * Redis is away (no offline queue, a short command timeout), so an outage degrades features
 * instead of hanging requests; ioredis keeps reconnecting in the background.
 */
export function connectRedis(config: RedisConfig, logger: Logger): RedisClient {
  const redis = openRedis(config, {
    keyPrefix: config.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: COMMAND_TIMEOUT_MS,
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down)
      logger.warn({ err: { message: error.message } }, 'redis connection error; retrying in the background');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis connection restored');
    down = false;
  });
  return redis;
}

/**
 * Whether Redis answers, as one flag every Redis-backed feature consults: the connection is
 * ready and a PING every `intervalMs` comes back in time (a Redis that hangs without closing
 * the connection counts as down too). Emits 'down' and 'up' when that changes.
 */
export class RedisHealth extends EventEmitter<{ down: []; up: [] }> {
  #available: boolean;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(
    private readonly redis: RedisClient,
    options: { intervalMs?: number; timeoutMs?: number } = {},
  ) {
    super();
    this.#available = redis.status === 'ready';
    redis.on('ready', () => void this.#check(options.timeoutMs));
    redis.on('close', () => this.#set(false));
    redis.on('end', () => this.#set(false));
    this.#timer = setInterval(() => void this.#check(options.timeoutMs), options.intervalMs ?? 1_000);
    this.#timer.unref();
  }

  get available(): boolean {
    return this.#available;
  }

  close(): void {
    clearInterval(this.#timer);
    this.removeAllListeners();
  }

  async #check(timeoutMs = 750): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      this.#set((await pingRedis(this.redis, timeoutMs)) === null);
    } finally {
      this.#checking = false;
    }
  }

  #set(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    this.emit(available ? 'up' : 'down');
  }
}

/** PING with a deadline; resolves to an error message, or null when Redis answered. */
export async function pingRedis(redis: RedisClient, timeoutMs = 1_000): Promise<string | null> {
  if (redis.status !== 'ready') return `redis is ${redis.status}`;
  try {
    await withTimeout(redis.ping(), timeoutMs);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** Every master of a Cluster, or the one server. */
export function redisNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
