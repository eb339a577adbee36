import { and, count, eq, gt, isNotNull, isNull, lte, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type InvitationRow, invitations } from '../../db/schema.js';
import {
  afterCursor,
  type Connection,
  decodeCursor,
  orderByKey,
  timestampKey,
  toConnection,
} from '../../kernel/pagination.js';

/** The SQL of invitations. Every statement names its tenant, except the system ADMIN's id look-up. */

export type InvitationStatusValue = 'PENDING' | 'ACCEPTED' | 'REVOKED' | 'EXPIRED';

/** Rows in a status at `now`; the status is derived, never stored. */
export function statusCondition(status: InvitationStatusValue, now: Date): SQL {
  const open = and(isNull(invitations.acceptedAt), isNull(invitations.revokedAt)) as SQL;
  switch (status) {
    case 'ACCEPTED':
      return isNotNull(invitations.acceptedAt);
    case 'REVOKED':
      return and(isNull(invitations.acceptedAt), isNotNull(invitations.revokedAt)) as SQL;
    case 'EXPIRED':
      return and(open, lte(invitations.expiresAt, now)) as SQL;
    case 'PENDING':
      return and(open, gt(invitations.expiresAt, now)) as SQL;
  }
}

export async function insertInvitation(
  db: Executor,
  values: Pick<
    InvitationRow,
    'tenantId' | 'email' | 'role' | 'displayName' | 'invitedBy' | 'tokenHash' | 'createdAt' | 'expiresAt'
  >,
): Promise<InvitationRow> {
  const [row] = await db.insert(invitations).values(values).returning();
  if (!row) throw new Error('invitation insert returned no row');
  return row;
}

/** A new invitation replaces any pending one to the same address: only the latest link works. */
export async function revokePendingInvitationsTo(db: Executor, tenantId: string, email: string, now: Date) {
  await db
    .update(invitations)
    .set({ revokedAt: now })
    .where(
      and(
        eq(invitations.tenantId, tenantId),
        sql`lower(${invitations.email}) = lower(${email})`,
        statusCondition('PENDING', now),
      ),
    );
}

export async function findInvitationById(db: Executor, tenantId: string, id: string) {
  const [row] = await db
    .select()
    .from(invitations)
    .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, id)))
    .limit(1);
  return row;
}

/** The tenant an invitation belongs to, by id alone: only system ADMINs look across tenants. */
export async function findInvitationTenantId(db: Executor, id: string): Promise<string | undefined> {
  const [row] = await db
    .select({ tenantId: invitations.tenantId })
    .from(invitations)
    .where(eq(invitations.id, id))
    .limit(1);
  return row?.tenantId;
}

export async function findPendingInvitationByToken(db: Executor, tenantId: string, hash: Buffer, now: Date) {
  const [row] = await db
    .select()
    .from(invitations)
    .where(
      and(
        eq(invitations.tenantId, tenantId),
        eq(invitations.tokenHash, hash),
        statusCondition('PENDING', now),
      ),
    )
    .limit(1);
  return row;
}

/** Revokes a pending invitation; undefined when it was not pending any more. */
export async function revokeInvitationRow(db: Executor, tenantId: string, id: string, now: Date) {
  const [row] = await db
    .update(invitations)
    .set({ revokedAt: now })
    .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, id), statusCondition('PENDING', now)))
    .returning();
  return row;
}

/** Marks a pending invitation accepted by `userId`: true for the one caller that accepted it. */
export async function markInvitationAccepted(
  db: Executor,
  invitation: Pick<InvitationRow, 'tenantId' | 'id'>,
  userId: string,
  now: Date,
): Promise<boolean> {
  const rows = await db
    .update(invitations)
    .set({ acceptedAt: now, acceptedUserId: userId })
    .where(
      and(
        eq(invitations.tenantId, invitation.tenantId),
        eq(invitations.id, invitation.id),
        statusCondition('PENDING', now),
      ),
    )
    .returning({ id: invitations.id });
  return rows.length > 0;
}

/** An invitation as it is listed and shown: never its token hash. */
export type InvitationView = Omit<InvitationRow, 'tokenHash'>;

const invitationColumns = {
  tenantId: invitations.tenantId,
  id: invitations.id,
  email: invitations.email,
  role: invitations.role,
  displayName: invitations.displayName,
  invitedBy: invitations.invitedBy,
  createdAt: invitations.createdAt,
  expiresAt: invitations.expiresAt,
  acceptedAt: invitations.acceptedAt,
  acceptedUserId: invitations.acceptedUserId,
  revokedAt: invitations.revokedAt,
};

const CREATED_AT = timestampKey(sql`${invitations.createdAt}`);
const ORDERING = 'invitations:CREATED_AT:DESC';

/** One page of a tenant's invitations, newest first; the count runs only if asked for. */
export async function listInvitations(
  db: Executor,
  query: {
    tenantId: string;
    first: number;
    after: string | null;
    status: InvitationStatusValue | null;
    now: Date;
  },
): Promise<Connection<InvitationView>> {
  const cursor = query.after === null ? null : decodeCursor(query.after, ORDERING, CREATED_AT);
  const filters = and(
    eq(invitations.tenantId, query.tenantId),
    query.status ? statusCondition(query.status, query.now) : undefined,
  );
  const rows = await db
    .select({
      ...invitationColumns,
      sortValue: sql<string>`${CREATED_AT.asText}`,
    })
    .from(invitations)
    .where(and(filters, cursor ? afterCursor(CREATED_AT, invitations.id, 'DESC', cursor) : undefined))
    .orderBy(...orderByKey(CREATED_AT, invitations.id, 'DESC'))
    .limit(query.first + 1);
  return toConnection<InvitationView>(rows, {
    first: query.first,
    hasCursor: cursor !== null,
    ordering: ORDERING,
    count: async () => {
      const [row] = await db.select({ n: count() }).from(invitations).where(filters);
      return Number(row?.n ?? 0);
    },
  });
}
