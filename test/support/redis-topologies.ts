import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, tempDir } from './process.js';
import { REDIS_SERVER, requireProgram } from './system.js';

const run = promisify(execFile);

/** Redis Cluster and Sentinel set-ups of the test's own, from the redis-server binary. */
export interface Topology {
  /** host:port list for REDIS_CLUSTER_NODES or REDIS_SENTINELS. */
  nodes: string;
  stop(): Promise<void>;
}

async function answers(port: number, timeoutMs = 5_000): Promise<void> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.connect();
        await client.ping();
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`redis on port ${port} did not start: ${(error as Error).message}`);
        client.disconnect();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    client.disconnect();
  }
}

function stopAll(children: ChildProcess[], remove: () => void) {
  return async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    remove();
  };
}

/** Three masters, no replicas, all slots assigned. */
export async function startRedisCluster(): Promise<Topology> {
  requireProgram(REDIS_SERVER); // missing: one line naming the package
  const dir = tempDir('identity-cluster-');
  const ports = [await freePort(), await freePort(), await freePort()];
  const children = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--dir',
        dir.path,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = stopAll(children, dir.remove);
  try {
    await Promise.all(ports.map((port) => answers(port)));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const states = await Promise.all(
        ports.map(async (port) => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout),
      );
      if (states.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('the Redis cluster did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), stop };
}

/** One master watched by one Sentinel under the name `mymaster`. */
export async function startRedisSentinel(): Promise<Topology & { name: string }> {
  requireProgram(REDIS_SERVER); // missing: one line naming the package
  const dir = tempDir('identity-sentinel-');
  const [master, sentinel] = [await freePort(), await freePort()];
  const conf = join(dir.path, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sentinel}`,
      'bind 127.0.0.1',
      `dir ${dir.path}`,
      `sentinel monitor mymaster 127.0.0.1 ${master} 1`,
      'sentinel down-after-milliseconds mymaster 5000',
      '',
    ].join('\n'),
  );
  const children = [
    spawn(
      'redis-server',
      ['--port', String(master), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    ),
    spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }),
  ];
  const stop = stopAll(children, dir.remove);
  try {
    await Promise.all([answers(master), answers(sentinel)]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: `127.0.0.1:${sentinel}`, name: 'mymaster', stop };
}
