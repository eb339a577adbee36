import type { Db } from '../../db/client.js';
import { cleanUpSessionsBatch } from './sessions.queries.js';

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
 * Batch after batch (see cleanUpSessionsBatch) until one finds less than a full batch to do, or
 * another instance holds the job.
 */
export async function cleanUpSessions(db: Db, now: Date, retentionDays: number): Promise<SessionCleanup> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const outcome: SessionCleanup = { expired: 0, deleted: 0 };
  for (;;) {
    const batch = await cleanUpSessionsBatch(db, { now, cutoff, limit: BATCH });
    if (!batch) return outcome;
    outcome.expired += batch.expired;
    outcome.deleted += batch.deleted;
    if (batch.expired < BATCH && batch.deleted < BATCH) return outcome;
  }
}
