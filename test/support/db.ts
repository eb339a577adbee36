import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { databaseUrl, TEST_DATABASE_URL } from './env.js';

export interface TestDatabase {
  database: Database;
  /** A connection URL for the new database, e.g. for a server process started by the test. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A fresh, already-migrated PostgreSQL database cloned from the run's template. Each test file
 * (and so each worker) works in its own database; `drop()` removes it.
 */
export async function createTestDatabase(options: { poolMax?: number } = {}): Promise<TestDatabase> {
  const template = inject('templateDatabase');
  // The creation time is part of the name so that the global setup can drop leftovers of killed runs.
  const name = `identity_test_db_${Date.now()}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}" template "${template}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = databaseUrl(name);
  const database = await connectDatabase({ kind: 'postgres', url, poolMax: options.poolMax ?? 10 });
  let dropped = false;
  return {
    database,
    url,
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await database.close().catch(() => {});
      const cleanup = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await cleanup.end({ timeout: 5 });
      }
    },
  };
}
