import type { EmailConfig } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { EmailOutboxRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import { stripControlCharacters } from '../../kernel/text.js';
import { type CommitEffects, type UnitOfWork, write } from '../../kernel/unit-of-work.js';
import {
  claimDueMessages,
  failLapsedClaims,
  markFailed,
  markForRetry,
  markSent,
  purgeFinishedMessages,
} from './email.queries.js';
import { type EmailTransport, isPermanentFailure } from './email.transport.js';

/** How long a claim holds: far longer than the transport's own timeouts add up to. */
const CLAIM_MS = 5 * 60_000;
/** Messages claimed per statement. */
const BATCH = 10;
/** Delivered and given-up messages are kept this long (support: "was it sent?"), then deleted. */
const RETENTION_MS = 7 * 86_400_000;
const SYSTEM_ORIGIN = { ip: null, userAgent: null };

export interface DeliveryRound {
  sent: number;
  retried: number;
  failed: number;
}

/**
 * Delivers the outbox. Every instance runs one: it wakes every EMAIL_POLL_SECONDS, and at once
 * when this instance has just committed a message (`nudge`). Messages are claimed with FOR
 * UPDATE SKIP LOCKED, so each is handed to the mail server by one instance only; a failure is
 * tried again after an exponential backoff with jitter, and a message still undelivered
 * EMAIL_GIVE_UP_AFTER_MINUTES after it was written (or refused for good by the server) is given
 * up with an `email.delivery_failed` audit event. Attempts and the last error stay on the row.
 *
 * Giving up is a unit of work (`write`): the row and its audit event commit together, and the
 * event is announced after. Claiming, retrying, marking sent and purging are single statements
 * with nothing to record or announce, so they run on the database as they are.
 */
export class OutboxWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DeliveryRound> | undefined;
  private again = false;
  private stopped = false;
  private lastPurge = 0;

  constructor(
    private readonly deps: {
      db: Db;
      /** A message given up is audited, and its event announced, through a unit of work. */
      commitEffects: CommitEffects;
      clock: Clock;
      logger: Logger;
      transport: EmailTransport;
      config: EmailConfig;
      /** Random numbers in [0, 1) for the jitter. */
      random?: () => number;
    },
  ) {}

  get transportKind(): 'smtp' | 'log' {
    return this.deps.transport.kind;
  }

  start(): void {
    this.schedule(Math.floor((this.deps.random ?? Math.random)() * this.deps.config.pollSeconds * 1000));
  }

  /** A message was just committed here: deliver without waiting for the next poll. */
  nudge(): void {
    if (this.stopped) return;
    this.deliverDue().catch((error: unknown) =>
      this.deps.logger.warn({ err: error }, 'email outbox: delivery round failed'),
    );
  }

  /**
   * Delivers everything due now, batch after batch, and resolves with what happened. A call made
   * while rounds are running joins them, and one more round runs after the current one, so that
   * what was due when it was called has been tried when it resolves.
   */
  deliverDue(): Promise<DeliveryRound> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      const total: DeliveryRound = { sent: 0, retried: 0, failed: 0 };
      do {
        this.again = false;
        const round = await this.round();
        total.sent += round.sent;
        total.retried += round.retried;
        total.failed += round.failed;
      } while (this.again && !this.stopped);
      return total;
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => {});
    this.deps.transport.close();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.deliverDue()
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: error }, 'email outbox: delivery round failed'),
        )
        .finally(() => this.schedule(this.deps.config.pollSeconds * 1000));
    }, delayMs);
    this.timer.unref();
  }

  private async round(): Promise<DeliveryRound> {
    const { db, clock } = this.deps;
    const done: DeliveryRound = { sent: 0, retried: 0, failed: 0 };
    const lapsed = await write(this.deps, async (w) => {
      const rows = await failLapsedClaims(w.tx, clock.now());
      for (const row of rows) await this.auditGaveUp(w, row);
      return rows;
    });
    done.failed += lapsed.length;
    for (;;) {
      if (this.stopped) break;
      const now = clock.now();
      const batch = await claimDueMessages(db, {
        now,
        claimedUntil: new Date(now.getTime() + CLAIM_MS),
        limit: BATCH,
      });
      for (const outcome of await Promise.all(batch.map((message) => this.deliver(message)))) {
        done[outcome] += 1;
      }
      if (batch.length < BATCH) break;
    }
    await this.purgeNow();
    return done;
  }

  private async deliver(message: EmailOutboxRow): Promise<keyof DeliveryRound> {
    const { db, clock, transport, logger, config } = this.deps;
    const content = message.content;
    try {
      if (!content) throw new Error('the message has no content');
      await transport.send({
        to: message.recipient,
        subject: message.subject,
        text: content.text,
        html: content.html,
        link: content.link,
        kind: message.kind,
      });
    } catch (error) {
      const now = clock.now();
      const reason = describeError(error);
      const expired = now.getTime() - message.createdAt.getTime() >= config.giveUpAfterMinutes * 60_000;
      if (expired || isPermanentFailure(error) || !content) {
        await write(this.deps, async (w) => {
          const row = await markFailed(w.tx, message, { now, error: reason });
          if (row) await this.auditGaveUp(w, row);
        });
        logger.warn(
          {
            event: 'email_failed',
            messageId: message.id,
            kind: message.kind,
            attempts: message.attempts,
            reason,
          },
          'email outbox: gave up on a message',
        );
        return 'failed';
      }
      const nextAttemptAt = new Date(now.getTime() + this.backoffMs(message.attempts));
      await markForRetry(db, message, { nextAttemptAt, error: reason });
      logger.info(
        { event: 'email_retry', messageId: message.id, attempts: message.attempts, nextAttemptAt, reason },
        'email outbox: delivery failed, will retry',
      );
      return 'retried';
    }
    await markSent(db, message, clock.now());
    return 'sent';
  }

  /**
   * Exponential backoff with "equal jitter": half of base x 2^(attempts-1) (capped), plus a random
   * part of the other half, so instances retrying after one outage spread out.
   */
  backoffMs(attempts: number): number {
    const { retryBaseSeconds, retryMaxSeconds } = this.deps.config;
    const ceiling = Math.min(
      retryMaxSeconds,
      retryBaseSeconds * 2 ** Math.min(30, Math.max(0, attempts - 1)),
    );
    const half = (ceiling * 1000) / 2;
    return Math.round(half + (this.deps.random ?? Math.random)() * half);
  }

  private async auditGaveUp(w: UnitOfWork, row: EmailOutboxRow): Promise<void> {
    await w.audit(SYSTEM_ORIGIN, {
      tenantId: row.tenantId,
      actorId: null,
      action: 'email.delivery_failed',
      targetType: 'email',
      targetId: row.id,
      metadata: {
        kind: row.kind,
        recipient: row.recipient,
        attempts: row.attempts,
        lastError: row.lastError,
      },
      at: row.failedAt ?? this.deps.clock.now(),
    });
  }

  private async purgeNow(): Promise<void> {
    const now = this.deps.clock.now().getTime();
    if (now - this.lastPurge < 3_600_000) return;
    this.lastPurge = now;
    const purged = await purgeFinishedMessages(this.deps.db, new Date(now - RETENTION_MS));
    if (purged > 0)
      this.deps.logger.info({ purged }, 'email outbox: deleted old delivered and failed messages');
  }
}

/** The transport's reason, on one line and bounded; SMTP replies name no credentials. */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return stripControlCharacters(message).slice(0, 500);
}
