import type { Deps } from '../../kernel/context.js';
import type { CommittedChanges } from '../../kernel/unit-of-work.js';
import {
  type AuditEventPayload,
  type SessionEndedPayload,
  topics,
  type UserChangedPayload,
} from './topics.js';

/**
 * Everything a committed write changed, as its unit of work recorded it (the composition root's
 * CommitEffects.publish): first every instance's caches drop it — sessions, users and the tenant,
 * one invalidation per tenant, awaited so that the client's next request sees the new state on
 * any instance — then subscribers hear of it: the audit feed, `sessionEnded` (which also closes
 * that session's WebSockets) and `userChanged`. Never throws: the write has happened.
 */
export async function publishCommitted(
  deps: Pick<Deps, 'cache' | 'events' | 'clock' | 'logger'>,
  changes: CommittedChanges,
): Promise<void> {
  const perTenant = new Map<
    string,
    { sessions: string[]; users: string[]; tenant: boolean; tenantDeleted: boolean }
  >();
  const of = (tenantId: string) => {
    let entry = perTenant.get(tenantId);
    if (!entry) {
      entry = { sessions: [], users: [], tenant: false, tenantDeleted: false };
      perTenant.set(tenantId, entry);
    }
    return entry;
  };
  for (const { session } of changes.sessionsEnded) of(session.tenantId).sessions.push(session.id);
  for (const change of changes.users) of(change.tenantId).users.push(...change.userIds);
  for (const change of changes.tenants) {
    const entry = of(change.tenantId);
    entry.tenant = true;
    entry.tenantDeleted ||= change.deleted;
  }
  const settle = async (what: string, work: Promise<unknown>[]) => {
    for (const outcome of await Promise.allSettled(work))
      if (outcome.status === 'rejected') deps.logger.warn({ err: outcome.reason }, `could not ${what}`);
  };
  await settle(
    'invalidate cached identities after a write',
    [...perTenant].map(([tenantId, entry]) =>
      deps.cache.invalidate({
        tenantId,
        sessions: entry.sessions,
        users: entry.users,
        tenant: entry.tenant,
        tenantDeleted: entry.tenantDeleted,
      }),
    ),
  );
  const at = deps.clock.now();
  const deletedUsers = new Set(
    changes.users.filter((c) => c.deleted).flatMap((c) => c.userIds.map((id) => `${c.tenantId}:${id}`)),
  );
  const announced = new Set<string>();
  await settle('publish the events of a write', [
    ...changes.auditRows.map((row) =>
      deps.events.publish(topics.auditEventAdded(row.tenantId), {
        ...row,
        createdAt: row.createdAt.toISOString(),
      } satisfies AuditEventPayload),
    ),
    ...changes.sessionsEnded.map(({ session, reason }) =>
      deps.events.publish(topics.sessionEnded(session.tenantId, session.userId), {
        sessionId: session.id,
        userId: session.userId,
        tenantId: session.tenantId,
        reason,
        at: (session.endedAt ?? at).toISOString(),
      } satisfies SessionEndedPayload),
    ),
    ...changes.users.flatMap(({ tenantId, userIds }) =>
      userIds.flatMap((userId) => {
        const key = `${tenantId}:${userId}`;
        if (announced.has(key)) return [];
        announced.add(key);
        return [
          deps.events.publish(topics.userChanged(tenantId, userId), {
            tenantId,
            userId,
            deleted: deletedUsers.has(key),
          } satisfies UserChangedPayload),
        ];
      }),
    ),
  ]);
  for (const hook of changes.hooks) {
    try {
      await hook();
    } catch (error) {
      deps.logger.warn({ err: error }, 'an after-commit step failed');
    }
  }
}
