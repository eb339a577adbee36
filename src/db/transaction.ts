import type { Db, Executor } from './client.js';

/** The transaction handle Drizzle passes to `db.transaction`'s callback. */
export type DbTransaction = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Work that must happen only once a change is committed: publishing it, for one. */
export type CommitHook = () => unknown;

/** The hooks of each open transaction started by `transaction`, and the database it runs on. */
const open = new WeakMap<object, { db: Db; hooks: CommitHook[] }>();

/**
 * Runs `work` in a transaction on `db`; once it has committed, runs the hooks registered with
 * `afterCommit` during it (in order, awaited, each one's failure ignored: the change stands, so
 * a hook reports its own errors). When the transaction rolls back no hook runs, so nothing is
 * ever announced about a change that did not happen. A `transaction` inside another one joins it.
 */
export async function transaction<T>(db: Executor, work: (tx: DbTransaction) => Promise<T>): Promise<T> {
  const outer = open.get(db);
  if (outer) return work(db as DbTransaction);
  const hooks: CommitHook[] = [];
  const result = await (db as Db).transaction(async (tx) => {
    open.set(tx, { db: db as Db, hooks });
    try {
      return await work(tx);
    } finally {
      open.delete(tx);
    }
  });
  await runHooks(hooks);
  return result;
}

/**
 * Registers `hook` to run after the transaction `executor` belongs to commits. On a plain
 * connection (autocommit: the statement before this call is already committed) it runs at once;
 * the returned promise settles when it has.
 */
export async function afterCommit(executor: Executor, hook: CommitHook): Promise<void> {
  const tx = open.get(executor);
  if (tx) {
    tx.hooks.push(hook);
    return;
  }
  await runHooks([hook]);
}

/** The database a transaction of `transaction` runs on, or `executor` itself. */
export function databaseOf(executor: Executor): Executor {
  return open.get(executor)?.db ?? executor;
}

async function runHooks(hooks: CommitHook[]): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch {
      // The hook's own business: it logs what it could not do.
    }
  }
}
