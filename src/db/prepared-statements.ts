import type { Sql, TransactionSql } from 'postgres';

type Unsafe = Sql['unsafe'];
type UnsafeOptions = NonNullable<Parameters<Unsafe>[2]>;

/**
 * Statements whose best plan depends on their values (a substring search: a common term is best
 * found along the sort order, a rare one through the trigram index). PostgreSQL would settle on
 * one generic plan for a named statement after a few runs; these go unnamed and are planned for
 * the values of every run.
 */
const plannedEveryTime = new Set<string>();

export function planEveryTime(sqlText: string): void {
  plannedEveryTime.add(sqlText);
}

/**
 * Drizzle asks postgres.js for an unnamed statement unless a query was `.prepare()`d by name, and
 * postgres.js then sends Parse + Describe, waits for the parameter types, and only then Bind +
 * Execute: two round trips and a fresh parse and plan in PostgreSQL for every query. Asked for a
 * named statement instead, postgres.js prepares each distinct SQL text once per connection and
 * afterwards sends Bind + Execute alone.
 *
 * The statements are the service's own fixed set of query shapes (ids travel as one array
 * parameter: see `anyOf`), so the per-connection cache stays small.
 * Pools that cannot keep named statements (PgBouncer in transaction mode before 1.21) turn this
 * off with DATABASE_PREPARED_STATEMENTS=false.
 */
export function preparingStatements(client: Sql): Sql {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe') return preparedUnsafe(target);
      if (property === 'begin') {
        return (...args: unknown[]) => {
          const work = args.pop() as (tx: TransactionSql) => unknown;
          const begin = target.begin as (...a: unknown[]) => Promise<unknown>;
          return begin.call(target, ...args, (tx: TransactionSql) => work(preparingTransaction(tx)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

function preparingTransaction(tx: TransactionSql): TransactionSql {
  return new Proxy(tx, {
    get(target, property, receiver) {
      if (property === 'unsafe') return preparedUnsafe(target as unknown as Sql);
      return Reflect.get(target, property, receiver);
    },
  });
}

function preparedUnsafe(target: Sql): Unsafe {
  return ((query: string, parameters?: unknown[], options?: UnsafeOptions) =>
    target.unsafe(query, parameters as never, {
      ...options,
      prepare: !plannedEveryTime.has(query),
    })) as Unsafe;
}
