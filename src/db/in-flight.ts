import type { Sql } from 'postgres';

/** How busy a connection pool is, as the metrics report it. */
export interface PoolStats {
  /** Connections the pool may open. */
  max: number;
  /** Connections busy with a query or a transaction. */
  inUse: number;
  /** Queries and transactions beyond `max` that have to wait for (or pipeline behind) a busy connection. */
  waiting: number;
}

/**
 * postgres.js keeps its pool counters private, so count what Drizzle hands it instead: every
 * top-level query (`sql.unsafe`) from the moment it is sent until it settles, and every
 * transaction (`sql.begin`) for as long as it holds its connection. Queries inside a transaction
 * run on that transaction's connection and are not counted again.
 */
export class InFlightCounter {
  #inFlight = 0;

  constructor(readonly max: number) {}

  stats(): PoolStats {
    return {
      max: this.max,
      inUse: Math.min(this.#inFlight, this.max),
      waiting: Math.max(0, this.#inFlight - this.max),
    };
  }

  /** The same client, with `unsafe` and `begin` counted. */
  wrap(client: Sql): Sql {
    return new Proxy(client, {
      get: (target, property, receiver) => {
        if (property === 'unsafe') {
          return (...args: Parameters<Sql['unsafe']>) => this.#trackQuery(target.unsafe(...args));
        }
        if (property === 'begin') {
          return (...args: unknown[]) => {
            this.#inFlight += 1;
            return (target.begin as (...a: unknown[]) => Promise<unknown>)(...args).finally(() => {
              this.#inFlight -= 1;
            });
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
  }

  /**
   * A postgres.js query is a lazy promise: it is sent when first awaited (`then`), possibly after
   * `.values()` and the like have configured it. Count from that first `then` until it settles.
   */
  #trackQuery<Q extends PromiseLike<unknown>>(query: Q): Q {
    const then = query.then;
    let started = false;
    const settled = () => {
      this.#inFlight -= 1;
    };
    Object.defineProperty(query, 'then', {
      configurable: true,
      writable: true,
      value: (...args: Parameters<Q['then']>) => {
        if (!started) {
          started = true;
          this.#inFlight += 1;
          then.call(query, settled, settled);
        }
        return then.apply(query, args);
      },
    });
    return query;
  }
}
