import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { auditEvents } from '../../db/schema.js';

/** Separates these advisory locks (two-key form) from every other lock of the service. */
const LOCK_CLASS = 7_140_102;

/**
 * Serialises the denials of one caller at one field until the transaction ends, so instances
 * that refuse the same caller at once still agree on one row.
 */
export async function lockDenialKey(tx: Executor, actorId: string, field: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_CLASS}::int, hashtext(${`${actorId}:${field}`}))`);
}

/** The newest `authz.denied` row of this caller at this field written after `since`, if any. */
export async function findOpenDenial(
  tx: Executor,
  key: { tenantId: string; actorId: string; field: string; since: Date },
): Promise<{ id: string } | undefined> {
  const [open] = await tx
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.tenantId, key.tenantId),
        eq(auditEvents.action, 'authz.denied'),
        gt(auditEvents.createdAt, key.since),
        eq(auditEvents.actorId, key.actorId),
        sql`${auditEvents.metadata}->>'field' = ${key.field}`,
      ),
    )
    .orderBy(desc(auditEvents.createdAt))
    .limit(1);
  return open;
}

/** One more denial on an open row: its count goes up and lastAt moves to `at`. */
export async function countDenialAgain(tx: Executor, tenantId: string, id: string, at: Date): Promise<void> {
  await tx
    .update(auditEvents)
    .set({
      metadata: sql`${auditEvents.metadata} || jsonb_build_object(
        'count', coalesce((${auditEvents.metadata}->>'count')::int, 1) + 1,
        'lastAt', ${at.toISOString()}::text)`,
    })
    .where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.id, id)));
}
