import { lt, sql } from 'drizzle-orm';
import { type Db, executeRows, LOCKS } from '../../db/client.js';
import { auditEvents } from '../../db/schema.js';

const BATCH = 5_000;

/**
 * Deletes audit events older than `cutoff`, in batches so that a large backlog never holds long
 * locks. Each batch runs only while holding a transaction-scoped advisory lock taken with
 * try-lock: when several instances run the job at once, one deletes and the others skip.
 */
export async function purgeAuditEvents(db: Db, cutoff: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await db.transaction(async (tx) => {
      const [lock] = executeRows<{ locked: boolean }>(
        await tx.execute(
          sql`select pg_try_advisory_xact_lock(${LOCKS.auditPurge.toString()}::bigint) as locked`,
        ),
      );
      if (!lock?.locked) return -1;
      const doomed = tx
        .select({ tenantId: auditEvents.tenantId, id: auditEvents.id })
        .from(auditEvents)
        .where(lt(auditEvents.createdAt, cutoff))
        .limit(BATCH);
      const rows = await tx
        .delete(auditEvents)
        // The whole key: on a table distributed or partitioned by tenant, id alone is no key.
        .where(sql`(${auditEvents.tenantId}, ${auditEvents.id}) in (${doomed})`)
        .returning({ id: auditEvents.id });
      return rows.length;
    });
    if (deleted < 0) return total;
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
