import type { Executor } from '../../db/client.js';
import type { AuditEventRow } from '../../db/schema.js';
import { afterCommit, databaseOf } from '../../db/transaction.js';
import type { EventBus } from './event-bus.js';
import { type AuditEventPayload, topics } from './topics.js';

/** Each app's database handle and the bus its audit events are announced on. */
const feeds = new WeakMap<object, EventBus>();

/**
 * Announces on `events` the audit events written through `db` (the app's own database handle:
 * see createApp). Apps in one process each pass a handle of their own.
 */
export function connectAuditFeed(db: Executor, events: EventBus): void {
  feeds.set(db, events);
}

/**
 * Called by recordAuditEvent with the executor it wrote on: the event is published once that
 * transaction commits (at once on a plain connection), never for one that rolls back.
 */
export function announceAuditEvent(executor: Executor, row: AuditEventRow): Promise<void> {
  const events = feeds.get(databaseOf(executor));
  return afterCommit(executor, async () => {
    if (!events) return;
    const payload: AuditEventPayload = { ...row, createdAt: row.createdAt.toISOString() };
    await events.publish(topics.auditEventAdded(row.tenantId), payload);
  });
}
