import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import type { SessionGuard, SessionInvalidation } from './session-guard.js';

export interface SessionSync {
  close(): void;
}

/**
 * Shares the SessionGuard's invalidations between the instances of one deployment over Redis
 * pub/sub: a session ended (or a user or tenant changed) on one instance is dropped from every
 * other instance's cache before the ending request is answered.
 *
 * Pub/sub delivers only to live subscribers, so while this instance is not subscribed (starting,
 * Redis down, reconnecting) it could miss a message: its guard then stops caching and asks the
 * database on every request, and caches again, from empty, once subscribed.
 */
export function shareSessionInvalidations(
  guard: SessionGuard,
  redis: Redis,
  options: { channel: string; logger: Logger },
): SessionSync {
  const { channel, logger } = options;
  const instance = randomUUID();
  guard.setCaching(false);

  const subscriber = redis.duplicate({
    // Subscribing waits for the connection; we resubscribe ourselves to know when it is live.
    enableOfflineQueue: true,
    autoResubscribe: false,
    maxRetriesPerRequest: null,
  });
  let closed = false;
  let warned = false;
  const offline = () => guard.setCaching(false);
  subscriber.on('close', offline);
  subscriber.on('reconnecting', offline);
  subscriber.on('error', (error: Error) => {
    offline();
    if (!warned) {
      logger.warn(
        { err: { message: error.message } },
        'session invalidations are not shared while Redis is unreachable: checking every session in the database',
      );
    }
    warned = true;
  });
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        if (closed) return;
        warned = false;
        guard.setCaching(true);
      },
      () => offline(),
    );
  });
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const parsed = parseMessage(message);
    if (!parsed) {
      // Unreadable: it may have been about anything, so forget everything.
      guard.setCaching(subscriber.status === 'ready');
      return;
    }
    if (parsed.from !== instance) guard.forget(parsed.change);
  });

  guard.onInvalidate(async (change) => {
    if (closed) return;
    try {
      await redis.publish(channel, JSON.stringify({ from: instance, change }));
    } catch (error) {
      // Other instances on the same Redis cannot be subscribed either, so they are not caching.
      logger.warn({ err: { message: (error as Error).message } }, 'could not share a session invalidation');
    }
  });

  return {
    close() {
      closed = true;
      subscriber.disconnect();
    },
  };
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function parseMessage(message: string): { from: string; change: SessionInvalidation } | undefined {
  let value: { from?: unknown; change?: Record<string, unknown> };
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  const change = value?.change;
  if (!isString(value?.from) || typeof change !== 'object' || change === null) return undefined;
  if (change.kind === 'session' && Array.isArray(change.sessionIds) && change.sessionIds.every(isString)) {
    return { from: value.from, change: { kind: 'session', sessionIds: change.sessionIds } };
  }
  if (change.kind === 'user' && isString(change.userId)) {
    return { from: value.from, change: { kind: 'user', userId: change.userId } };
  }
  if (change.kind === 'tenant' && isString(change.tenantId)) {
    return { from: value.from, change: { kind: 'tenant', tenantId: change.tenantId } };
  }
  return undefined;
}
