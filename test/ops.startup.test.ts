import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrl, TEST_DATABASE_URL } from './support/env.js';
import { freePort, postGraphQL, runServerProcess, tempDir, waitFor } from './support/process.js';
import { type RedisProcess, startRedisProcess } from './support/redis-process.js';

const FAST = { BCRYPT_COST: '4', LOG_LEVEL: 'info' };

/** A TCP port that forwards to PostgreSQL only once `open()` is called: a database still starting. */
async function lateDatabasePort(): Promise<{ port: number; open(): Promise<void>; close(): void }> {
  const port = await freePort();
  const target = new URL(TEST_DATABASE_URL);
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    port,
    open: () =>
      new Promise((resolve) => {
        server = createServer((client) => {
          const upstream = createConnection(Number(target.port || 5432), target.hostname);
          sockets.add(client).add(upstream);
          client.pipe(upstream).pipe(client);
          const end = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on('error', end).on('close', end);
          upstream.on('error', end).on('close', end);
        });
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server?.close();
    },
  };
}

async function dropDatabase(name: string) {
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

describe('starting up', () => {
  it('answers GraphQL-shaped 503s while it waits for PostgreSQL, then serves once it is up', async () => {
    const late = await lateDatabasePort();
    const name = `identity_test_db_${Date.now()}_${process.pid}_${randomBytes(3).toString('hex')}`;
    const url = new URL(databaseUrl(name));
    url.port = String(late.port);
    url.password = 'pw-that-must-not-show';
    const server = runServerProcess({
      ...FAST,
      PORT: String(await freePort()),
      DATABASE_URL: url.toString(),
    });
    try {
      await waitFor(`${server.url}/health`);
      const graphql = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      expect(graphql.status).toBe(503);
      expect(graphql.headers.get('retry-after')).toBe('1');
      const body = (await graphql.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
      expect(body.errors[0]?.message).toMatch(/starting/);
      for (const path of ['/ready', '/.well-known/jwks.json', '/metrics']) {
        const response = await fetch(`${server.url}${path}`);
        expect([path, response.status, response.headers.get('retry-after')]).toEqual([path, 503, '1']);
      }
      // It says what it waits for, without the password.
      await expect.poll(() => server.output(), { timeout: 10_000 }).toContain('waiting for PostgreSQL');
      expect(server.output()).not.toContain('pw-that-must-not-show');

      // The database comes up (and the database itself is missing: it is created).
      await late.open();
      await waitFor(`${server.url}/ready`, 200, 60_000);
      expect((await postGraphQL(server.url, '{ __typename }')).body.data).toEqual({ __typename: 'Query' });
      expect(server.output()).toContain(`created the missing database \\"${name}\\"`);
      expect(await server.stop()).toBe(0);
    } finally {
      await server.stop('SIGKILL');
      late.close();
      await dropDatabase(name);
    }
  }, 90_000);

  it('gives up after DATABASE_WAIT_SECONDS with one line naming the server', async () => {
    const port = await freePort();
    const server = runServerProcess({
      ...FAST,
      LOG_LEVEL: 'error',
      PORT: String(await freePort()),
      DATABASE_WAIT_SECONDS: '1',
      DATABASE_URL: `postgres://app:pw-hidden@127.0.0.1:${port}/identity`,
    });
    expect(await server.exited).toBe(1);
    const lines = server.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`PostgreSQL at 127.0.0.1:${port}.*ECONNREFUSED.*still failing after`),
    );
    expect(server.output()).not.toContain('pw-hidden');
  }, 30_000);
});

describe('starting before Redis', () => {
  it('serves without Redis while it is not there, and uses it once it comes up', async () => {
    const redisPort = await freePort();
    const dataDir = tempDir('identity-late-redis-');
    const server = runServerProcess({
      ...FAST,
      PORT: String(await freePort()),
      DATA_DIR: dataDir.path,
      REDIS_URL: `redis://:pw-not-shown@127.0.0.1:${redisPort}`,
    });
    let redis: RedisProcess | undefined;
    try {
      // No exit, no wait: GraphQL answers, readiness says what is missing.
      await waitFor(`${server.url}/health`, 200, 60_000);
      await expect
        .poll(async () => (await postGraphQL(server.url, '{ __typename }')).status, { timeout: 60_000 })
        .toBe(200);
      const down = await fetch(`${server.url}/ready`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ checks: { database: 'ok', redis: 'unavailable' } });
      expect(server.process.exitCode).toBeNull();

      redis = await startRedisProcess({ port: redisPort });
      await waitFor(`${server.url}/ready`, 200, 30_000);
      expect(await (await fetch(`${server.url}/ready`)).json()).toMatchObject({ checks: { redis: 'ok' } });
      expect(server.output()).not.toContain('pw-not-shown');
      expect(await server.stop()).toBe(0);
    } finally {
      await server.stop('SIGKILL');
      await redis?.stop();
      dataDir.remove();
    }
  }, 120_000);
});

describe('npm start and signals', () => {
  const dataDir = tempDir('identity-npm-start-');
  afterAll(() => dataDir.remove());

  it('SIGTERM to the npm process stops the server and frees its port', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        ...FAST,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: dataDir.path,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk) => {
      output += chunk;
    });
    npm.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${base}/ready`, 200, 60_000);
      npm.kill('SIGTERM');
      await exited;
      // The server itself is gone: nothing listens on its port any more.
      await expect
        .poll(
          () =>
            fetch(`${base}/health`).then(
              () => 'listening',
              () => 'closed',
            ),
          { timeout: 10_000 },
        )
        .toBe('closed');
      expect(output).toContain('"msg":"stopped"');
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
    }
  }, 90_000);
});
