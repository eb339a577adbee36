import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { auditEvents } from '../../db/schema.js';
import { transaction } from '../../db/transaction.js';
import type { RequestOrigin } from '../../kernel/context.js';
import { type AuditEventInput, recordAuditEvent } from './audit.service.js';

/** One `authz.denied` row per caller and field for this long; later denials add to its count. */
export const AUTHZ_DENIED_WINDOW_MS = 60_000;

/** Separates these advisory locks (two-key form) from every other lock of the service. */
const LOCK_CLASS = 7_140_102;

export interface AuthzDenial {
  tenantId: string;
  actorId: string;
  actorType?: AuditEventInput['actorType'];
  /** The root field that was refused. */
  field: string;
  /** Its refused paths in this request (`users`, `user.sessions`, …). */
  paths: (string | null)[];
  /** What the caller held: `{ role }` or `{ scopes }`. */
  holding: Record<string, unknown>;
  at: Date;
}

/**
 * Records a FORBIDDEN answer so that a flood of them leaves the trail readable: the first
 * denial of a caller at a field writes an `authz.denied` row (metadata.count 1, firstAt,
 * lastAt); every denial of the same caller at the same field within AUTHZ_DENIED_WINDOW_MS of
 * that row adds to its count and moves lastAt, instead of writing another row. So there is at
 * most one row per caller, field and minute, and the count says how many were refused. The
 * check and the write take a transaction-scoped advisory lock on (caller, field), so instances
 * that refuse the same caller at once still agree on one row.
 */
export async function recordAuthzDenial(
  db: Executor,
  origin: RequestOrigin,
  denial: AuthzDenial,
): Promise<void> {
  await transaction(db, async (tx) => {
    await tx.execute(
      sql`select pg_advisory_xact_lock(${LOCK_CLASS}::int, hashtext(${`${denial.actorId}:${denial.field}`}))`,
    );
    const since = new Date(denial.at.getTime() - AUTHZ_DENIED_WINDOW_MS);
    const [open] = await tx
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.tenantId, denial.tenantId),
          eq(auditEvents.action, 'authz.denied'),
          gt(auditEvents.createdAt, since),
          eq(auditEvents.actorId, denial.actorId),
          sql`${auditEvents.metadata}->>'field' = ${denial.field}`,
        ),
      )
      .orderBy(desc(auditEvents.createdAt))
      .limit(1);
    if (open) {
      await tx
        .update(auditEvents)
        .set({
          metadata: sql`${auditEvents.metadata} || jsonb_build_object(
            'count', coalesce((${auditEvents.metadata}->>'count')::int, 1) + 1,
            'lastAt', ${denial.at.toISOString()}::text)`,
        })
        .where(and(eq(auditEvents.tenantId, denial.tenantId), eq(auditEvents.id, open.id)));
      return;
    }
    await recordAuditEvent(tx, origin, {
      tenantId: denial.tenantId,
      actorId: denial.actorId,
      actorType: denial.actorType,
      action: 'authz.denied',
      targetType: null,
      targetId: null,
      metadata: {
        field: denial.field,
        paths: denial.paths,
        ...denial.holding,
        count: 1,
        firstAt: denial.at.toISOString(),
        lastAt: denial.at.toISOString(),
      },
      at: denial.at,
    });
  });
}
