import type { Db } from '../../db/client.js';
import { deleteAuditEventsBefore, tryAuditPurgeLock } from './audit.queries.js';

const BATCH = 5_000;

/**
 * Deletes audit events older than `cutoff`, in batches so that a large backlog never holds long
 * locks. Each batch runs only while holding a transaction-scoped advisory lock taken with
 * try-lock: when several instances run the job at once, one deletes and the others skip.
 *
 * A periodic job on the database alone (no unit of work): it records no audit event and changes
 * nothing a cache holds or a subscriber hears of.
 */
export async function purgeAuditEvents(db: Db, cutoff: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await db.transaction(async (tx) => {
      if (!(await tryAuditPurgeLock(tx))) return -1;
      return deleteAuditEventsBefore(tx, cutoff, BATCH);
    });
    if (deleted < 0) return total;
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
