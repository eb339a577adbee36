import postgres from 'postgres';
import type { Config } from '../config.js';
import { lockDataDir } from '../kernel/data-dir-lock.js';
import { redactCredentials } from '../kernel/redact.js';
import { connectDatabase, type Database } from './client.js';

/**
 * Errors worth waiting out at start-up: the server is not up yet (a container started beside it),
 * its name does not resolve yet, or it is still starting or recovering.
 */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P03', // cannot_connect_now: starting up, shutting down or in recovery
  '53300', // too_many_connections
]);

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

export interface WaitOptions {
  /** Give up after this long (the first attempt is always made). */
  timeoutMs: number;
  /** Told once when waiting begins and then every 10 s. */
  onWait?: (message: string) => void;
  /** Told when a missing database was created. */
  onCreated?: (message: string) => void;
}

/**
 * Resolves once PostgreSQL answers at `url`: waits out a server that is not accepting connections
 * yet (for `timeoutMs`), and creates the database when it does not exist and the role may create
 * databases. Anything else (a wrong password, a missing database the role may not create) fails
 * at once with a message that names the cause and never the credentials.
 */
export async function waitForDatabase(database: Database, url: string, options: WaitOptions): Promise<void> {
  const started = Date.now();
  let lastTold = 0;
  let createTried = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await database.ping();
      return;
    } catch (error) {
      const code = errorCode(error);
      if (code === '3D000' && !createTried) {
        createTried = true;
        await createMissingDatabase(url);
        options.onCreated?.(`created the missing database "${databaseName(url)}"`);
        continue;
      }
      const message = describe(error, url);
      if (!TRANSIENT.has(code ?? '')) throw new DatabaseUnavailableError(message);
      const waited = Date.now() - started;
      if (waited >= options.timeoutMs) {
        throw new DatabaseUnavailableError(
          `${message} (still failing after ${Math.round(waited / 1000)} s of retrying)`,
        );
      }
      if (lastTold === 0 || Date.now() - lastTold >= 10_000) {
        lastTold = Date.now();
        options.onWait?.(
          `waiting for PostgreSQL: ${message}; retrying for up to ${Math.round((options.timeoutMs - waited) / 1000)} s`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 2_000)));
    }
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres';
}

function describe(error: unknown, url: string): string {
  const code = errorCode(error);
  const where = redactCredentials(new URL(url).host);
  if (code === '28P01' || code === '28000') {
    return `PostgreSQL at ${where} refused the login in DATABASE_URL (${code === '28P01' ? 'wrong password' : 'no such role, or pg_hba.conf does not admit it'})`;
  }
  return redactCredentials(`PostgreSQL at ${where}: ${(error as Error).message}`);
}

/**
 * CREATE DATABASE through the server's maintenance database (`postgres`, else `template1`) with
 * the same role. Another process creating it at the same moment is fine.
 */
async function createMissingDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  let lastError: unknown;
  for (const maintenance of ['postgres', 'template1']) {
    const target = new URL(url);
    target.pathname = `/${maintenance}`;
    const sql = postgres(target.toString(), { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      await sql.unsafe(`create database "${name.replace(/"/g, '""')}"`);
      return;
    } catch (error) {
      const code = errorCode(error);
      if (code === '42P04') return; // duplicate_database: created meanwhile
      lastError = error;
      if (code === '3D000') continue; // no such maintenance database: try the next
      break;
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  }
  const role = decodeURIComponent(new URL(url).username) || 'the role in DATABASE_URL';
  const host = new URL(url);
  const why =
    errorCode(lastError) === '42501'
      ? `role "${role}" may not create databases`
      : redactCredentials((lastError as Error).message);
  throw new DatabaseUnavailableError(
    `The database "${name}" does not exist on ${host.host} and could not be created (${why}): create it, e.g. \`createdb -h ${host.hostname} -p ${host.port || 5432} -U <owner> ${name}\`, or point DATABASE_URL at an existing one.`,
  );
}

/**
 * Opens the configured database the way the server and every command-line tool must: an embedded
 * one only under its data directory's lock (released by close), PostgreSQL only once it answers.
 */
export async function openDatabase(
  config: Config,
  report: { warn(message: string): void; info(message: string): void },
): Promise<Database> {
  const settings = config.database;
  if (settings.kind === 'pglite') {
    const lock = settings.dataDir ? lockDataDir(settings.dataDir) : undefined;
    try {
      const database = await connectDatabase(settings);
      const close = database.close;
      return {
        ...database,
        close: async () => {
          try {
            await close();
          } finally {
            lock?.release();
          }
        },
      };
    } catch (error) {
      lock?.release();
      throw error;
    }
  }
  const database = await connectDatabase(settings);
  try {
    await waitForDatabase(database, settings.directUrl ?? settings.url, {
      timeoutMs: config.databaseWaitSeconds * 1000,
      onWait: report.warn,
      onCreated: report.info,
    });
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
  return database;
}
