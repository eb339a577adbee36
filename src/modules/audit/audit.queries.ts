import { and, count, eq, gte, like, lt, lte, type SQL, sql } from 'drizzle-orm';
import { type Executor, executeRows, LOCKS } from '../../db/client.js';
import { type AuditEventRow, auditEvents } from '../../db/schema.js';
import type { RequestOrigin } from '../../kernel/deps.js';
import { BadUserInputError, type FieldError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import {
  afterCursor,
  type Connection,
  decodeCursor,
  escapeLike,
  orderByKey,
  timestampKey,
  toConnection,
} from '../../kernel/pagination.js';
import { stripControlCharacters } from '../../kernel/text.js';
import type { AuditEventInput } from '../../kernel/unit-of-work.js';

export interface AuditFilter {
  action?: string | null;
  actorId?: string | null;
  targetId?: string | null;
  since?: Date | null;
  until?: Date | null;
}

const ORDERING = 'audit:CREATED_AT:DESC';
const createdAt = timestampKey(sql`${auditEvents.createdAt}`);

function filterConditions(tenantId: string, filter: AuditFilter): SQL[] {
  const errors: FieldError[] = [];
  const conditions: SQL[] = [eq(auditEvents.tenantId, tenantId)];
  const action = filter.action?.trim();
  if (action) {
    if (action.length > 100 || !/^[a-z0-9_.]+$/.test(action)) {
      errors.push({
        field: 'filter.action',
        message: 'An action is lowercase words separated by dots, e.g. auth.login.failed or auth.',
      });
    } else {
      conditions.push(
        action.endsWith('.')
          ? like(auditEvents.action, `${escapeLike(action)}%`)
          : eq(auditEvents.action, action),
      );
    }
  }
  for (const [field, column] of [
    ['actorId', auditEvents.actorId],
    ['targetId', auditEvents.targetId],
  ] as const) {
    const value = filter[field];
    if (value === undefined || value === null) continue;
    if (!isUuid(value))
      errors.push({ field: `filter.${field}`, message: `${field} must be an id (a UUID).` });
    else conditions.push(eq(column, value));
  }
  if (filter.since) conditions.push(gte(auditEvents.createdAt, filter.since));
  if (filter.until) conditions.push(lte(auditEvents.createdAt, filter.until));
  if (filter.since && filter.until && filter.since > filter.until) {
    errors.push({ field: 'filter.until', message: 'until must not be before since.' });
  }
  if (errors.length > 0) throw new BadUserInputError(errors);
  return conditions;
}

/**
 * One tenant's audit trail, newest first, a keyset page at a time; served by the
 * (tenant_id, created_at desc, id desc) index.
 */
export async function listAuditEvents(
  db: Executor,
  tenantId: string,
  options: { filter: AuditFilter; first: number; after?: string | null },
): Promise<Connection<AuditEventRow>> {
  const conditions = filterConditions(tenantId, options.filter);
  const page = [...conditions];
  if (options.after)
    page.push(
      afterCursor(createdAt, auditEvents.id, 'DESC', decodeCursor(options.after, ORDERING, createdAt)),
    );
  const rows = await db
    .select({ event: auditEvents, sortValue: createdAt.asText.mapWith(String) })
    .from(auditEvents)
    .where(and(...page))
    .orderBy(...orderByKey(createdAt, auditEvents.id, 'DESC'))
    .limit(options.first + 1);
  return toConnection(
    rows.map((row) => ({ ...row.event, sortValue: row.sortValue })),
    {
      first: options.first,
      hasCursor: Boolean(options.after),
      ordering: ORDERING,
      count: async () => {
        const [total] = await db
          .select({ n: count() })
          .from(auditEvents)
          .where(and(...conditions));
        return total?.n ?? 0;
      },
    },
  );
}

/** Strips control characters so that a crafted user agent cannot forge lines in a log viewer. */
function auditText(value: string | null | undefined, max: number): string | null {
  if (!value) return null;
  return stripControlCharacters(value).slice(0, max);
}

/** Where an audited request came from, cleaned and cut to the columns' sizes. */
export function auditOrigin(origin: RequestOrigin): RequestOrigin {
  return { ip: auditText(origin.ip, 64), userAgent: auditText(origin.userAgent, 512) };
}

/**
 * Stores one audit event. Only through a unit of work (`w.audit`, src/kernel/unit-of-work.ts):
 * in the transaction that makes the change, so that an event is never lost and never describes a
 * change that rolled back, and announced once that transaction commits.
 */
export async function insertAuditEvent(
  db: Executor,
  origin: RequestOrigin,
  event: AuditEventInput,
): Promise<AuditEventRow> {
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
  return row as AuditEventRow;
}

/**
 * Takes the audit purge's transaction-scoped advisory lock if it is free: false when another
 * instance is purging (this one then skips).
 */
export async function tryAuditPurgeLock(tx: Executor): Promise<boolean> {
  const [lock] = executeRows<{ locked: boolean }>(
    await tx.execute(sql`select pg_try_advisory_xact_lock(${LOCKS.auditPurge.toString()}::bigint) as locked`),
  );
  return Boolean(lock?.locked);
}

/** Deletes up to `limit` audit events older than `cutoff`; answers how many it deleted. */
export async function deleteAuditEventsBefore(tx: Executor, cutoff: Date, limit: number): Promise<number> {
  const doomed = tx
    .select({ tenantId: auditEvents.tenantId, id: auditEvents.id })
    .from(auditEvents)
    .where(lt(auditEvents.createdAt, cutoff))
    .limit(limit);
  const rows = await tx
    .delete(auditEvents)
    // The whole key: on a table distributed or partitioned by tenant, id alone is no key.
    .where(sql`(${auditEvents.tenantId}, ${auditEvents.id}) in (${doomed})`)
    .returning({ id: auditEvents.id });
  return rows.length;
}
