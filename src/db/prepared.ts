import { type AnyColumn, getTableColumns, Placeholder, type SQL, sql, type Table } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import type { Db, Executor } from './client.js';

/**
 * A query Drizzle builds once per database handle and afterwards only executes, its values passed
 * as `sql.placeholder(name)`. Building walks the whole expression tree and renders the SQL text
 * again on every call; on a page of users that was a tenth of the request's CPU.
 *
 * Only for the pool's handle (`services.db`): a statement prepared there cannot run inside a
 * transaction, which has its own handle.
 */
export function preparedPerDatabase<Q>(build: (db: Db) => Q): (db: Db) => Q {
  const built = new WeakMap<Db, Q>();
  return (db) => {
    let query = built.get(db);
    if (query === undefined) {
      query = build(db);
      built.set(db, query);
    }
    return query;
  };
}

/**
 * The pool's handle a prepared statement runs on, given the executor of a write: a one-statement
 * write (`write(…, { transaction: false })`) hands over the pool's handle itself. A transaction's
 * handle is a programming error here, reported as such.
 */
export function onPool(executor: Executor): Db {
  if (executor instanceof PgTransaction) {
    throw new Error('a prepared statement runs on the pool, not in a transaction');
  }
  return executor;
}

/**
 * The columns of a CTE that returns a table's rows (`update … returning`), selected under the
 * table's own field names: Drizzle then reads them back with the table's own types.
 */
export function fieldsOf(table: Table, cte: object): never {
  const columns = cte as Record<string, unknown>;
  return Object.fromEntries(Object.keys(getTableColumns(table)).map((key) => [key, columns[key]])) as never;
}

/**
 * `column = any($1::uuid[])`: the ids travel as one array parameter, so the statement's text (and
 * the prepared statement PostgreSQL keeps for it) is the same however many there are. `IN ($1,
 * $2, …)` would be a statement of its own for every count. `ids` may be the placeholder of a
 * prepared query.
 */
export function anyOf(column: AnyColumn, ids: readonly string[] | Placeholder): SQL {
  return sql`${column} = any(${ids instanceof Placeholder ? ids : sql.param([...ids])}::uuid[])`;
}
