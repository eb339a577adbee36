import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaries, type PostgresProcess } from './postgres-process.js';
import { freePort } from './process.js';

const run = promisify(execFile);

export interface PostgresReplica {
  port: number;
  url(database?: string): string;
  destroy(): Promise<void>;
}

/**
 * A streaming replica of `primary` (a private test cluster): `pg_basebackup -R -X stream` into a
 * new directory, then started on a free port as a hot standby that applies each commit
 * `applyDelayMs` after the primary made it (`recovery_min_apply_delay`), so reads from it lag
 * visibly. Runs as the `postgres` OS user when the tests run as root.
 */
export async function startReplica(primary: PostgresProcess, applyDelayMs: number): Promise<PostgresReplica> {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), 'identity-replica-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
    chownSync(dir, await id('-u'), await id('-g'));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
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
