import { and, eq, inArray, lte, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { type EmailContent, type EmailOutboxRow, emailOutbox } from '../../db/schema.js';

/** The outbox's SQL. Each function takes the executor to run on: a transaction or the database. */

export interface NewOutboxMessage {
  tenantId: string;
  kind: string;
  recipient: string;
  subject: string;
  content: EmailContent;
  now: Date;
}

export async function insertOutboxMessage(db: Executor, message: NewOutboxMessage): Promise<EmailOutboxRow> {
  const [row] = await db
    .insert(emailOutbox)
    .values({
      tenantId: message.tenantId,
      kind: message.kind,
      recipient: message.recipient,
      subject: message.subject,
      content: message.content,
      createdAt: message.now,
      nextAttemptAt: message.now,
    })
    .returning();
  if (!row) throw new Error('outbox insert returned no row');
  return row;
}

/**
 * Claims up to `limit` due messages for this instance: each becomes SENDING with its attempt
 * counted and a claim that lapses at `claimedUntil`. FOR UPDATE SKIP LOCKED lets instances claim
 * side by side without waiting on each other, and a row another instance is claiming is skipped,
 * never claimed twice.
 */
export function claimDueMessages(
  db: Executor,
  input: { now: Date; claimedUntil: Date; limit: number },
): Promise<EmailOutboxRow[]> {
  const due = sql`select ${emailOutbox.tenantId}, ${emailOutbox.id} from ${emailOutbox}
    where ${emailOutbox.status} = 'PENDING' and ${emailOutbox.nextAttemptAt} <= ${input.now.toISOString()}::timestamptz
    order by ${emailOutbox.nextAttemptAt}
    limit ${input.limit}
    for update skip locked`;
  return db
    .update(emailOutbox)
    .set({
      status: 'SENDING',
      attempts: sql`${emailOutbox.attempts} + 1`,
      claimedUntil: input.claimedUntil,
    })
    .where(
      and(eq(emailOutbox.status, 'PENDING'), sql`(${emailOutbox.tenantId}, ${emailOutbox.id}) in (${due})`),
    )
    .returning();
}

const claimed = (message: Pick<EmailOutboxRow, 'tenantId' | 'id'>): SQL =>
  and(
    eq(emailOutbox.tenantId, message.tenantId),
    eq(emailOutbox.id, message.id),
    eq(emailOutbox.status, 'SENDING'),
  ) as SQL;

/** Delivered: the content (which holds a token) is erased; recipient, subject and times stay. */
export async function markSent(
  db: Executor,
  message: Pick<EmailOutboxRow, 'tenantId' | 'id'>,
  now: Date,
): Promise<void> {
  await db
    .update(emailOutbox)
    .set({ status: 'SENT', sentAt: now, content: null, claimedUntil: null, lastError: null })
    .where(claimed(message));
}

/** Not delivered this time: tried again from `nextAttemptAt`. */
export async function markForRetry(
  db: Executor,
  message: Pick<EmailOutboxRow, 'tenantId' | 'id'>,
  input: { nextAttemptAt: Date; error: string },
): Promise<void> {
  await db
    .update(emailOutbox)
    .set({
      status: 'PENDING',
      nextAttemptAt: input.nextAttemptAt,
      lastError: input.error,
      claimedUntil: null,
    })
    .where(claimed(message));
}

/** Given up: the content is erased. Returns the row when this call gave it up. */
export async function markFailed(
  db: Executor,
  message: Pick<EmailOutboxRow, 'tenantId' | 'id'>,
  input: { now: Date; error: string },
): Promise<EmailOutboxRow | undefined> {
  const [row] = await db
    .update(emailOutbox)
    .set({ status: 'FAILED', failedAt: input.now, lastError: input.error, content: null, claimedUntil: null })
    .where(claimed(message))
    .returning();
  return row;
}

/**
 * Messages whose claim lapsed while SENDING: the instance sending them stopped without saying
 * how it went. The mail server may have accepted them, so they are not sent again (at most
 * once): they are given up, with the reason.
 */
export function failLapsedClaims(db: Executor, now: Date): Promise<EmailOutboxRow[]> {
  return db
    .update(emailOutbox)
    .set({
      status: 'FAILED',
      failedAt: now,
      content: null,
      claimedUntil: null,
      lastError: sql`coalesce(${emailOutbox.lastError} || '; ', '') || 'delivery outcome unknown: the instance sending it stopped'`,
    })
    .where(and(eq(emailOutbox.status, 'SENDING'), lte(emailOutbox.claimedUntil, now)))
    .returning();
}

/** Delivered and given-up messages older than `cutoff` are deleted. */
export async function purgeFinishedMessages(db: Executor, cutoff: Date): Promise<number> {
  const rows = await db
    .delete(emailOutbox)
    .where(
      and(
        inArray(emailOutbox.status, ['SENT', 'FAILED']),
        sql`coalesce(${emailOutbox.sentAt}, ${emailOutbox.failedAt}) < ${cutoff.toISOString()}::timestamptz`,
      ),
    )
    .returning({ id: emailOutbox.id });
  return rows.length;
}
