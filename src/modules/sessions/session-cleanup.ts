import { sql } from 'drizzle-orm';
import { type Db, executeRows, LOCKS } from '../../db/client.js';
import { sessions } from '../../db/schema.js';

const BATCH = 5_000;

export interface SessionCleanup {
  /** Sessions past their absolute lifetime, now marked ended with reason EXPIRED. */
  expired: number;
  /** Sessions ended or expired before the retention cut-off, deleted (spent refresh tokens go with them). */
  deleted: number;
}

/**
 * Keeps the sessions table from growing without bound. Sessions that reached `expiresAt` are
 * marked ended (EXPIRED) so the record is complete; sessions that ended or expired more than the
 * retention period ago are deleted, and their spent refresh tokens with them (ON DELETE
 * CASCADE). Until then they stay, for sessionEnded and the audit trail to refer to.
 *
 * Each batch runs in a transaction holding a transaction-scoped advisory try-lock: when several
 * instances run the job at once, one works and the others skip, and a large backlog never holds
 * long locks. Both steps use sessions_cleanup_idx (coalesce(ended_at, expires_at)).
 */
export async function cleanUpSessions(db: Db, now: Date, retentionDays: number): Promise<SessionCleanup> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const outcome: SessionCleanup = { expired: 0, deleted: 0 };
  for (;;) {
    const batch = await db.transaction(async (tx) => {
      const [lock] = executeRows<{ locked: boolean }>(
        await tx.execute(
          sql`select pg_try_advisory_xact_lock(${LOCKS.sessionCleanup.toString()}::bigint) as locked`,
        ),
      );
      if (!lock?.locked) return undefined;
      const expired = await tx.execute(sql`
        update ${sessions} set ended_at = expires_at, end_reason = 'EXPIRED'
        where (tenant_id, id) in (
          select tenant_id, id from ${sessions}
          where coalesce(ended_at, expires_at) <= ${now.toISOString()}::timestamptz and ended_at is null
          limit ${BATCH}
        )
        returning id`);
      const deleted = await tx.execute(sql`
        delete from ${sessions}
        where (tenant_id, id) in (
          select tenant_id, id from ${sessions}
          where coalesce(ended_at, expires_at) < ${cutoff.toISOString()}::timestamptz
          limit ${BATCH}
        )
        returning id`);
      return { expired: executeRows(expired).length, deleted: executeRows(deleted).length };
    });
    if (!batch) return outcome;
    outcome.expired += batch.expired;
    outcome.deleted += batch.deleted;
    if (batch.expired < BATCH && batch.deleted < BATCH) return outcome;
  }
}
