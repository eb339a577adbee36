import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './process.js';
import { isRoot, serviceUser } from './system.js';

const run = promisify(execFile);

/** Debian's binary; `.ci/run` installs the package when it is missing. */
export const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((path) => existsSync(path));

export interface Pgbouncer {
  port: number;
  /** `upstream` (a URL of the PostgreSQL behind it) with host and port swapped for the pooler's. */
  url(upstream: string): string;
  /** The pooler's own log, for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A PgBouncer of the test's own in front of the PostgreSQL `upstream` names: transaction pooling
 * with few server connections (so that consecutive transactions of one client land on different
 * server connections, as in production), its own config, log and pid file in a temp directory, a
 * free loopback port. Runs as the `postgres` (or `nobody`) OS user when the tests run as root (PgBouncer refuses
 * root). Clients are trusted; PgBouncer logs in upstream with the upstream URL's credentials.
 */
export async function startPgbouncer(
  upstream: string,
  options: { poolSize?: number } = {},
): Promise<Pgbouncer> {
  if (!PGBOUNCER) throw new Error('pgbouncer is not installed (Debian package: pgbouncer)');
  const target = new URL(upstream);
  const user = decodeURIComponent(target.username || 'postgres');
  const password = decodeURIComponent(target.password);
  const dir = mkdtempSync(join(tmpdir(), 'identity-pgbouncer-'));
  const port = await freePort();
  const quoted = (value: string) => `'${value.replaceAll("'", "''")}'`;
  const upstreamHost = target.hostname === 'localhost' ? '127.0.0.1' : target.hostname;
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${upstreamHost} port=${target.port || 5432} user=${user}${password ? ` password=${quoted(password)}` : ''}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 4}`,
      'max_client_conn = 500',
      'max_db_connections = 0',
      'server_reset_query =',
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`);
  const runAs = isRoot() ? serviceUser() : undefined;
  if (runAs) {
    for (const file of ['', 'pgbouncer.ini', 'users.txt']) chownSync(join(dir, file), runAs.uid, runAs.gid);
  }
  const log = () => {
    try {
      return readFileSync(join(dir, 'pgbouncer.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const args = ['-d', join(dir, 'pgbouncer.ini')];
  try {
    await (runAs ? run('runuser', ['-u', runAs.name, '--', PGBOUNCER, ...args]) : run(PGBOUNCER, args));
    await untilListening(port, 10_000);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer did not start: ${(error as Error).message} ${log()}`);
  }
  return {
    port,
    url(database) {
      const url = new URL(database);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    log,
    async stop() {
      const pid = Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8').trim());
      try {
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100; i++) {
          process.kill(pid, 0);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } catch {
        // Gone.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function untilListening(port: number, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() - started > timeoutMs) throw new Error(`nothing listens on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
