import type { Executor } from '../../db/client.js';
import { auditEvents } from '../../db/schema.js';
import type { RequestOrigin } from '../../graphql/context.js';
import { announceAuditEvent } from '../realtime/audit-feed.js';

export interface AuditEventInput {
  tenantId: string;
  actorId: string | null;
  /** A service account acting: recorded as metadata.actorType. */
  actorType?: 'SERVICE';
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  metadata?: Record<string, unknown> | null;
  at: Date;
}

/** Strips control characters so that a crafted user agent cannot forge lines in a log viewer. */
function auditText(value: string | null | undefined, max: number): string | null {
  if (!value) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, max);
}

/** Where an audited request came from, cleaned and cut to the columns' sizes. */
export function auditOrigin(origin: RequestOrigin): RequestOrigin {
  return { ip: auditText(origin.ip, 64), userAgent: auditText(origin.userAgent, 512) };
}

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
  const { ip, userAgent } = auditOrigin(origin);
  const [row] = await db
    .insert(auditEvents)
    .values({
      tenantId: event.tenantId,
      actorId: event.actorId,
      action: event.action,
      targetType: event.targetType ?? null,
      targetId: event.targetId ?? null,
      ipAddress: ip,
      userAgent,
      metadata: event.actorType
        ? { ...event.metadata, actorType: event.actorType }
        : (event.metadata ?? null),
      createdAt: event.at,
    })
    .returning();
  if (row) await announceAuditEvent(db, row);
}
