import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Logger as DrizzleLogger } from 'drizzle-orm/logger';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Config } from '../config.js';
import { unpackTemplate } from './embedded-template.js';
import { InFlightCounter, type PoolStats } from './in-flight.js';
import { preparingStatements } from './prepared-statements.js';
import * as schema from './schema.js';

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema>;
/** Anything a query can run on: the pool or an open transaction. */
export type Executor = Db | Tx;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Counts SQL statements sent, so tests and benchmarks can assert queries per operation. */
export class StatementCounter implements DrizzleLogger {
  count = 0;
  logQuery(_query: string, _params: unknown[]): void {
    this.count += 1;
  }
}

export interface Database {
  kind: 'postgres' | 'pglite';
  db: Db;
  /** The read replica's pool (DATABASE_READ_URL) for lag-tolerant reads; `db` when there is none. */
  readDb: Db;
  statements: StatementCounter;
  /** Connections in use and operations waiting (for the metrics). */
  poolStats(): PoolStats;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /**
   * Runs `work` on a connection of its own to DATABASE_DIRECT_URL (the database itself, not a
   * pooler), closed afterwards: for work that needs one server session throughout (session-scoped
   * advisory locks, migrations) or must not depend on a pooler (bootstrap, key generation).
   */
  withDirect<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /**
   * Runs `work` while holding a PostgreSQL advisory lock (on a direct connection), so that
   * several instances starting at once migrate and bootstrap one after another instead of racing.
   */
  withAdvisoryLock<T>(key: bigint, work: (db: Db) => Promise<T>): Promise<T>;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/** Advisory lock keys; arbitrary constants unique to this service. */
export const LOCKS = {
  startup: 7_140_101_001n,
  sessionCleanup: 7_140_101_002n,
  auditPurge: 7_140_101_003n,
} as const;

export async function connectDatabase(config: Config['database']): Promise<Database> {
  return config.kind === 'postgres'
    ? connectPostgres({
        url: config.url,
        directUrl: config.directUrl ?? config.url,
        readUrl: config.readUrl,
        poolMax: config.poolMax,
        prepared: config.preparedStatements ?? true,
      })
    : connectPglite(config.dataDir);
}

/** Applies pending migrations from drizzle/ (the same files on PostgreSQL and PGlite). */
export async function runMigrations(kind: Database['kind'], db: Db): Promise<void> {
  if (kind === 'postgres') await migratePostgres(db as never, { migrationsFolder: MIGRATIONS_FOLDER });
  else await migratePglite(db as never, { migrationsFolder: MIGRATIONS_FOLDER });
}

async function connectPostgres(options: {
  url: string;
  directUrl: string;
  readUrl?: string;
  poolMax: number;
  prepared: boolean;
}): Promise<Database> {
  const { url, directUrl, readUrl, poolMax, prepared } = options;
  const statements = new StatementCounter();
  const client = postgres(url, {
    max: poolMax,
    idle_timeout: 30,
    connect_timeout: 10,
    // Off, postgres.js prepares nothing by name, not even its own BEGIN and COMMIT: behind a
    // pooler in transaction mode a named COMMIT could fail on another server connection, the
    // driver's ROLLBACK then ran, and a write the service had reported as done was lost.
    prepare: prepared,
    // postgres.js waits up to 20 s between reconnection attempts after failures by default, so a
    // restarted database would leave requests hanging long after it is back. Retry within 0.5 s.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    onnotice: () => {},
    connection: { application_name: 'identity-api' },
  });
  const inFlight = new InFlightCounter(poolMax);
  const db = drizzlePostgres(inFlight.wrap(prepared ? preparingStatements(client) : client), {
    schema,
    logger: statements,
  }) as unknown as Db;

  // The replica's own pool, as large as the primary's; its statements are counted with the rest.
  const replica = readUrl
    ? postgres(readUrl, {
        max: poolMax,
        idle_timeout: 30,
        connect_timeout: 10,
        prepare: prepared,
        backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
        onnotice: () => {},
        connection: { application_name: 'identity-api-read' },
      })
    : undefined;
  const readDb = replica
    ? (drizzlePostgres(prepared ? preparingStatements(replica) : replica, {
        schema,
        logger: statements,
      }) as unknown as Db)
    : db;

  const withDirect = async <T>(work: (directDb: Db) => Promise<T>): Promise<T> => {
    const single = postgres(directUrl, {
      max: 1,
      onnotice: () => {},
      connect_timeout: 10,
      prepare: prepared,
      connection: { application_name: 'identity-api' },
    });
    try {
      return await work(drizzlePostgres(single, { schema, logger: statements }) as unknown as Db);
    } finally {
      await single.end({ timeout: 5 });
    }
  };

  // A session-scoped advisory lock belongs to the server session that took it: through a pooler
  // in transaction mode the unlock could run on another one and leave the lock held for good.
  const withAdvisoryLock = <T>(key: bigint, work: (lockDb: Db) => Promise<T>): Promise<T> =>
    withDirect(async (lockDb) => {
      await lockDb.execute(sql`select pg_advisory_lock(${key.toString()}::bigint)`);
      try {
        return await work(lockDb);
      } finally {
        await lockDb.execute(sql`select pg_advisory_unlock(${key.toString()}::bigint)`).catch(() => {});
      }
    });

  return {
    kind: 'postgres',
    db,
    readDb,
    statements,
    poolStats: () => inFlight.stats(),
    ping: async () => {
      await client`select 1`;
    },
    withDirect,
    withAdvisoryLock,
    migrate: () => withAdvisoryLock(LOCKS.startup, (lockDb) => runMigrations('postgres', lockDb)),
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), replica?.end({ timeout: 5 })]);
    },
  };
}

async function connectPglite(dataDir: string | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  const { btree_gin } = await import('@electric-sql/pglite/contrib/btree_gin');
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    // A new database starts as a copy of the build's migrated template (see embedded-template.ts).
    unpackTemplate(MIGRATIONS_FOLDER, dataDir);
  }
  const client = await PGlite.create({ dataDir, extensions: { pg_trgm, btree_gin } });
  const statements = new StatementCounter();
  const db = drizzlePglite(client, { schema, logger: statements }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    readDb: db,
    statements,
    // One embedded connection, always open; PGlite queues queries internally.
    poolStats: () => ({ max: 1, inUse: 1, waiting: 0 }),
    ping: async () => {
      await client.query('select 1');
    },
    // One process owns an embedded database, so there is nobody to race with.
    withDirect: async (work) => work(db),
    withAdvisoryLock: async (_key, work) => work(db),
    migrate: () => runMigrations('pglite', db),
    close: () => client.close(),
  };
}

/** Rows of a raw `db.execute(sql…)`: postgres.js returns an array, PGlite an object with rows. */
export function executeRows<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : ((result as { rows?: T[] }).rows ?? []);
}
