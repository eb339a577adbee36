import type { Executor } from '../../db/client.js';
import type { RequestOrigin } from '../../kernel/deps.js';
import { type AuditEventInput, type WriteDeps, write } from '../../kernel/unit-of-work.js';
import { auditOrigin, insertAuditEvent } from './audit.queries.js';
import { countDenialAgain, findOpenDenial, lockDenialKey } from './authz-denied.queries.js';

export type { AuditEventInput } from '../../kernel/unit-of-work.js';
export { auditOrigin };

/** One `authz.denied` row per caller and field for this long; later denials add to its count. */
export const AUTHZ_DENIED_WINDOW_MS = 60_000;

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
 * check and the write hold a transaction-scoped advisory lock on (caller, field), so instances
 * that refuse the same caller at once still agree on one row.
 */
export async function recordAuthzDenial(
  deps: WriteDeps,
  origin: RequestOrigin,
  denial: AuthzDenial,
): Promise<void> {
  await write(deps, async (w) => {
    await lockDenialKey(w.tx, denial.actorId, denial.field);
    const since = new Date(denial.at.getTime() - AUTHZ_DENIED_WINDOW_MS);
    const open = await findOpenDenial(w.tx, { ...denial, since });
    if (open) {
      await countDenialAgain(w.tx, denial.tenantId, open.id, denial.at);
      return;
    }
    await w.audit(origin, {
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
