import type { Executor } from '../../db/client.js';
import type { RequestOrigin } from '../../kernel/deps.js';
import type { AuditEventInput } from '../../kernel/unit-of-work.js';
import { announceAuditEvent } from '../realtime/audit-feed.js';
import { auditOrigin, insertAuditEvent } from './audit.queries.js';

export type { AuditEventInput } from '../../kernel/unit-of-work.js';
export { auditOrigin };

/**
 * Writes one audit event. Call it with the transaction that makes the change, so an event is
 * never lost and never describes a change that rolled back. ADMINs' live feed
 * (auditEventAdded) hears of it once that transaction commits.
 */
export async function recordAuditEvent(
  db: Executor,
  origin: RequestOrigin,
  event: AuditEventInput,
): Promise<void> {
  const row = await insertAuditEvent(db, origin, event);
  if (row) await announceAuditEvent(db, row);
}
