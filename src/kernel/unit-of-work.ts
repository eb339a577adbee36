import type { Db, Executor } from '../db/client.js';
import type { AuditEventRow, SessionEndReason } from '../db/schema.js';
import type { DbTransaction } from '../db/transaction.js';
import type { RequestOrigin } from './request-origin.js';

/** One audit event as a service describes it; `write`'s `audit` stores it in the transaction. */
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

/** A session a write ended: enough to drop its checks everywhere and tell its subscribers. */
export interface EndedSessionRef {
  id: string;
  tenantId: string;
  userId: string;
  endedAt?: Date | null;
}

/** Work that must wait for the commit and is none of the kinds below (waking a worker). */
export type CommitHook = () => unknown;

/** What one committed write changed, as its unit of work recorded it. */
export interface CommittedChanges {
  /** Audit rows written, in order: announced to `auditEventAdded` subscribers. */
  auditRows: AuditEventRow[];
  sessionsEnded: { session: EndedSessionRef; reason: SessionEndReason }[];
  /** Per tenant, the users whose row changed (profile, role, status, lock, password) or went. */
  users: { tenantId: string; userIds: string[]; deleted: boolean }[];
  tenants: { tenantId: string; deleted: boolean }[];
  hooks: CommitHook[];
}

/**
 * What the composition root does with a write (src/app/commit-effects.ts): the audit row's
 * statement, and everything after commit — every instance's caches drop what changed (awaited:
 * the client's next request sees the new state on any instance), then subscribers are told.
 * `publish` never throws: the write has happened, so it logs what it could not do.
 */
export interface CommitEffects {
  insertAudit(executor: Executor, origin: RequestOrigin, event: AuditEventInput): Promise<AuditEventRow>;
  publish(changes: CommittedChanges): Promise<void>;
}

/**
 * One write: its statements run on `tx`, and it records what it changed. The audit rows go into
 * the same transaction; everything else (invalidations, events) runs once it has committed,
 * from what was recorded here, and never for a write that rolled back.
 */
export interface UnitOfWork {
  readonly tx: Executor;
  audit(origin: RequestOrigin, event: AuditEventInput): Promise<void>;
  /** An audit row a statement of the write stored itself (one statement that also audits). */
  audited(row: AuditEventRow): void;
  usersChanged(tenantId: string, userIds: readonly string[], options?: { deleted?: boolean }): void;
  tenantChanged(tenantId: string, options?: { deleted?: boolean }): void;
  sessionsEnded(sessions: readonly EndedSessionRef[], reason: SessionEndReason): void;
  /**
   * Work that must wait for the commit and is none of the kinds above. `required`: the write's
   * answer waits for it and fails if it fails (dropping a revoked credential from every
   * instance's cache: the caller must not be told "done" while another instance still lets it
   * in); otherwise a failure is logged and the answer stands.
   */
  afterCommit(hook: CommitHook, options?: { required?: boolean }): void;
}

/** `Pick<Deps, 'db' | 'commitEffects'>`, spelled out: Deps itself names CommitEffects. */
export interface WriteDeps {
  db: Db;
  commitEffects: CommitEffects;
}

export interface WriteOptions {
  /**
   * Join a unit already open (a service called by another's write): its statements share that
   * transaction and its effects wait for that commit.
   */
  within?: UnitOfWork;
  /**
   * `false`: no transaction, for a write that is one statement (atomic on its own, and one round
   * trip less); the effects run once it has returned, i.e. committed.
   */
  transaction?: boolean;
}

class RecordingUnit implements UnitOfWork {
  readonly changes: CommittedChanges = {
    auditRows: [],
    sessionsEnded: [],
    users: [],
    tenants: [],
    hooks: [],
  };

  constructor(
    readonly tx: Executor,
    private readonly effects: CommitEffects,
  ) {}

  async audit(origin: RequestOrigin, event: AuditEventInput): Promise<void> {
    this.changes.auditRows.push(await this.effects.insertAudit(this.tx, origin, event));
  }

  audited(row: AuditEventRow): void {
    this.changes.auditRows.push(row);
  }

  usersChanged(tenantId: string, userIds: readonly string[], options: { deleted?: boolean } = {}): void {
    if (userIds.length === 0) return;
    this.changes.users.push({ tenantId, userIds: [...userIds], deleted: options.deleted === true });
  }

  tenantChanged(tenantId: string, options: { deleted?: boolean } = {}): void {
    this.changes.tenants.push({ tenantId, deleted: options.deleted === true });
  }

  sessionsEnded(sessions: readonly EndedSessionRef[], reason: SessionEndReason): void {
    for (const session of sessions) this.changes.sessionsEnded.push({ session, reason });
  }

  /** Hooks whose failure fails the write's answer (see UnitOfWork.afterCommit). */
  readonly required: CommitHook[] = [];

  afterCommit(hook: CommitHook, options: { required?: boolean } = {}): void {
    if (options.required) this.required.push(hook);
    else this.changes.hooks.push(hook);
  }

  /** Everything after the commit: the recorded changes published, then the required hooks. */
  async committed(): Promise<void> {
    if (!this.isEmpty) await this.effects.publish(this.changes);
    for (const hook of this.required) await hook();
  }

  get isEmpty(): boolean {
    const c = this.changes;
    return (
      c.auditRows.length + c.sessionsEnded.length + c.users.length + c.tenants.length + c.hooks.length === 0
    );
  }
}

/**
 * Runs one write: `work` issues its statements on `w.tx` and records on `w` what it changed;
 * once the transaction has committed, the recorded effects run (awaited before this resolves).
 * When `work` throws, the transaction rolls back and nothing is announced.
 */
export async function write<T>(
  deps: WriteDeps,
  work: (w: UnitOfWork) => Promise<T>,
  options: WriteOptions = {},
): Promise<T> {
  if (options.within) return work(options.within);
  if (options.transaction === false) {
    // Each statement commits on its own: what ran before a failure stands and is announced.
    const unit = new RecordingUnit(deps.db, deps.commitEffects);
    let result: T;
    try {
      result = await work(unit);
    } catch (error) {
      await unit.committed().catch(() => {});
      throw error;
    }
    await unit.committed();
    return result;
  }
  let unit: RecordingUnit | undefined;
  const result = await deps.db.transaction(async (tx: DbTransaction) => {
    unit = new RecordingUnit(tx, deps.commitEffects);
    return work(unit);
  });
  await (unit as RecordingUnit | undefined)?.committed();
  return result;
}
