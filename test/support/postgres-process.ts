import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort } from './process.js';

const run = promisify(execFile);

export interface PostgresProcess {
  port: number;
  /** A connection URL for `database` on this cluster (trust authentication, user postgres). */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  /** Stops the server: 'immediate' is a crash (no checkpoint), 'fast' a clean shutdown. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/** The newest PostgreSQL of Debian's packages (/usr/lib/postgresql/<version>/bin). */
export function binaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin');
  return join(root, versions[0], 'bin');
}

/**
 * A private PostgreSQL cluster of the test's own, so fault tests can stop and restart a database
 * server without touching the shared one: initdb into a temp directory (as the `postgres` OS user
 * when running as root, since initdb refuses root), trust authentication, a free loopback port.
 */
export async function startPostgresProcess(): Promise<PostgresProcess> {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), 'identity-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
    chownSync(dir, await id('-u'), await id('-g'));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);

  await pg('initdb', [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const start = async () => {
    await pg('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']);
  };
  const stop = async (mode: 'immediate' | 'fast' = 'immediate') => {
    await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']).catch(() => {});
  };
  await start();
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name) {
      const admin = postgres(url(), { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`create database "${name}"`);
      } finally {
        await admin.end({ timeout: 5 });
      }
      return url(name);
    },
    stop,
    start,
    async destroy() {
      await stop('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
