import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { connectDatabase, MIGRATIONS_FOLDER } from '../src/db/client.js';
import { databaseUrl, TEST_DATABASE_URL, TEST_REDIS_URL } from './support/env.js';

/**
 * Builds one migrated template database per migration set (named by a hash of drizzle/), so each
 * test file clones it in milliseconds instead of migrating. Fails fast, in one line, when
 * PostgreSQL or Redis is not there.
 */
export default async function setup(project: TestProject) {
  // Tests that start the service as a real process run the compiled server.
  // @ts-expect-error: a plain .mjs helper without type declarations
  const { buildIfNeeded } = await import('../scripts/build-if-needed.mjs');
  await buildIfNeeded();
  // The driver's crash fix (scripts/patch-postgres.mjs): the fault tests restart PostgreSQL.
  // @ts-expect-error: a plain .mjs helper without type declarations
  const { patchPostgres } = await import('../scripts/patch-postgres.mjs');
  patchPostgres();
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin`select 1`;
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_DATABASE_URL} (${(error as Error).message}): start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set TEST_DATABASE_URL.`,
    );
  }
  const redis = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${TEST_REDIS_URL} (${(error as Error).message}): start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) or set TEST_REDIS_URL.`,
    );
  } finally {
    redis.disconnect();
  }

  const template = `identity_test_tpl_${migrationsHash()}`;
  try {
    await dropLeftovers(admin, template);
    const [existing] = await admin`select 1 from pg_database where datname = ${template}`;
    if (!existing) {
      const building = `${template}_build_${process.pid}`;
      await admin.unsafe(`drop database if exists "${building}"`);
      await admin.unsafe(`create database "${building}"`);
      const database = await connectDatabase({ kind: 'postgres', url: databaseUrl(building), poolMax: 2 });
      try {
        await database.migrate();
      } finally {
        await database.close();
      }
      await admin.unsafe(`alter database "${building}" rename to "${template}"`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
  project.provide('templateDatabase', template);
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(entry.name).update(readFileSync(path));
    }
  };
  walk(MIGRATIONS_FOLDER);
  return hash.digest('hex').slice(0, 12);
}

/**
 * Test databases left by killed runs, and templates of older migration sets. Another checkout on
 * the same PostgreSQL may be testing another migration set right now, so a template is dropped only
 * when no test database was cloned from any template for an hour.
 */
async function dropLeftovers(admin: postgres.Sql, keep: string) {
  const quietFor = 3_600_000;
  const rows = await admin<{ datname: string }[]>`
    select datname from pg_database
    where (datname like 'identity_test_tpl_%' and datname <> ${keep}
           and not exists (select 1 from pg_database recent
                           where recent.datname like 'identity_test_db_%'
                             and split_part(recent.datname, '_', 4)::bigint > ${Date.now() - quietFor}))
       or (datname like 'identity_test_db_%' and split_part(datname, '_', 4)::bigint < ${Date.now() - 3_600_000})`;
  for (const { datname } of rows) {
    await admin.unsafe(`drop database if exists "${datname}" with (force)`).catch(() => {});
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
