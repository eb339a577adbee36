import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { generatedPassword, runNpmScript } from './support/cli.js';
import { createTestDatabase } from './support/db.js';
import { LOGIN } from './support/fixtures.js';
import { freePort, postGraphQL, runServerProcess, tempDir, waitFor } from './support/process.js';
import { startTestServer } from './support/server.js';

/** The command-line tools as an operator runs them: `npm run <tool>`. */
const TOOLS = ['db:migrate', 'keys:rotate', 'db:seed', 'admin:reset', 'schema:emit'] as const;

const dirs: { remove(): void }[] = [];
function scratch(prefix: string) {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return dir.path;
}
afterAll(() => {
  for (const dir of dirs) dir.remove();
});

const FAST = { BCRYPT_COST: '4', LOG_LEVEL: 'warn' };

describe('--help', () => {
  it.each(TOOLS)(
    'npm run %s -- --help prints its usage and touches no database',
    async (tool) => {
      const dataDir = join(scratch('identity-help-'), 'data');
      const schemaFile = join(scratch('identity-help-schema-'), 'schema.graphql');
      // A database URL nobody listens on: opening it would fail loudly.
      const unreachable = `postgres://postgres@127.0.0.1:${await freePort()}/nothing`;
      const envs: Record<string, string>[] = [
        { DATA_DIR: dataDir },
        { DATABASE_URL: unreachable, DATABASE_WAIT_SECONDS: '0' },
      ];
      for (const env of envs) {
        const result = await runNpmScript(
          tool,
          ['--help', ...(tool === 'schema:emit' ? [schemaFile] : [])],
          env,
        );
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout).toMatch(/^usage: /);
        expect(existsSync(dataDir)).toBe(false);
        expect(existsSync(schemaFile)).toBe(false);
      }
    },
    60_000,
  );

  it('the server answers --help too and does not start', async () => {
    const dataDir = join(scratch('identity-help-'), 'data');
    const result = await runNpmScript('start', ['--help'], {
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: npm start/);
    expect(existsSync(dataDir)).toBe(false);
  }, 30_000);

  it('an unknown option prints the usage and exits 2 without doing anything', async () => {
    const dataDir = join(scratch('identity-help-'), 'data');
    const result = await runNpmScript('keys:rotate', ['--dry-run'], { DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--dry-run');
    expect(result.stderr).toContain('usage: npm run keys:rotate');
    expect(existsSync(dataDir)).toBe(false);
  }, 30_000);
});

describe('admin:reset', () => {
  it('on the embedded database: creates an ADMIN, then replaces its password; the server signs it in', async () => {
    const dataDir = scratch('identity-reset-');
    const env = { ...FAST, DATA_DIR: dataDir };
    const created = await runNpmScript('admin:reset', ['--email', 'ops@example.com'], env);
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('System administrator created');
    const first = generatedPassword(created.stderr);
    expect(first).toBeTruthy();

    const reset = await runNpmScript('admin:reset', ['--email', 'OPS@example.com'], env);
    expect(reset.code).toBe(0);
    expect(reset.stderr).toContain('New password for the system administrator');
    const second = generatedPassword(reset.stderr);
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);

    const server = runServerProcess({ ...env, PORT: String(await freePort()) });
    try {
      await waitFor(`${server.url}/ready`, 200, 60_000);
      const login = (password: string | undefined) =>
        postGraphQL(server.url, LOGIN, { input: { tenant: 'system', email: 'ops@example.com', password } });
      expect((await login(first)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const ok = await login(second);
      expect(ok.body.errors).toBeUndefined();
      expect(ok.body.data.login.user).toMatchObject({ email: 'ops@example.com', role: 'ADMIN' });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 120_000);

  it('on PostgreSQL: resets a locked-out ADMIN, ends its sessions, and writes the audit trail', async () => {
    const server = await startTestServer();
    const email = 'root@system.test';
    try {
      const before = await server.gql(LOGIN, {
        input: { tenant: 'system', email, password: 'correct horse battery staple 42' },
      });
      const oldToken = before.data?.login.accessToken as string;
      expect(oldToken).toBeTruthy();

      const result = await runNpmScript('admin:reset', ['--email', email], {
        ...FAST,
        DATABASE_URL: server.testDatabase.url,
      });
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('1 session(s) ended');
      const password = generatedPassword(result.stderr);

      const after = await server.gql(LOGIN, { input: { tenant: 'system', email, password } });
      expect(after.errors).toBeUndefined();

      const sql = postgres(server.testDatabase.url, { max: 1, onnotice: () => {} });
      try {
        const [event] = await sql`
          select e.action, e.actor_id, e.user_agent, e.metadata from audit_events e
          join users u on u.id = e.target_id where e.action = 'admin.password_reset' and u.email = ${email}`;
        expect(event).toMatchObject({
          action: 'admin.password_reset',
          actor_id: null,
          user_agent: 'admin:reset (command line)',
          metadata: { via: 'admin:reset', endedSessions: 1 },
        });
      } finally {
        await sql.end();
      }
    } finally {
      await server.close();
    }
  }, 60_000);

  it('refuses to turn a non-ADMIN of the system tenant into an ADMIN, and says why', async () => {
    const dataDir = scratch('identity-reset-');
    const server = await startTestServer();
    try {
      const { data } = await server.gql(LOGIN, {
        input: { tenant: 'system', email: 'root@system.test', password: 'correct horse battery staple 42' },
      });
      const token = data?.login.accessToken as string;
      const created = await server.gql(
        'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
        { input: { email: 'helper@system.test', password: 'a long enough password 77', role: 'USER' } },
        { token },
      );
      expect(created.errors).toBeUndefined();
      const result = await runNpmScript('admin:reset', ['--email', 'helper@system.test'], {
        ...FAST,
        DATA_DIR: dataDir,
        DATABASE_URL: server.testDatabase.url,
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('is a USER of the "system" tenant, not an ADMIN');
    } finally {
      await server.close();
    }
  }, 60_000);

  it('without --email prints the usage and exits 2', async () => {
    const result = await runNpmScript('admin:reset', [], { DATA_DIR: join(scratch('identity-reset-'), 'x') });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--email is required');
  }, 30_000);
});

describe('keys:rotate', () => {
  it('rotates and writes the rotation to the system tenant audit trail', async () => {
    const database = await createTestDatabase({ poolMax: 1 });
    try {
      const result = await runNpmScript('keys:rotate', [], { ...FAST, DATABASE_URL: database.url });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const kid = /new kid (\S+),/.exec(result.stdout)?.[1];
      const sql = postgres(database.url, { max: 1, onnotice: () => {} });
      try {
        const events = await sql`
          select e.metadata, t.slug from audit_events e join tenants t on t.id = e.tenant_id
          where e.action = 'keys.rotated'`;
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ slug: 'system', metadata: { kid, via: 'keys:rotate' } });
      } finally {
        await sql.end();
      }
    } finally {
      await database.drop();
    }
  }, 60_000);
});

describe('one process per embedded database', () => {
  it('a second server and a CLI on a data directory in use stop with one clear line; after a crash it is free again', async () => {
    const dataDir = scratch('identity-lock-');
    const first = runServerProcess({ ...FAST, DATA_DIR: dataDir, PORT: String(await freePort()) });
    try {
      await waitFor(`${first.url}/ready`, 200, 60_000);
      const second = runServerProcess({ ...FAST, DATA_DIR: dataDir, PORT: String(await freePort()) });
      expect(await second.exited).toBe(1);
      const lines = second.output().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`is in use by process ${first.process.pid}`);

      const rotate = await runNpmScript('keys:rotate', [], { ...FAST, DATA_DIR: dataDir });
      expect(rotate.code).toBe(1);
      expect(rotate.stderr.trim().split('\n')).toHaveLength(1);
      expect(rotate.stderr).toContain('in use by process');
      // The running server never saw a second writer: it still answers.
      expect((await postGraphQL(first.url, '{ __typename }')).body.data).toEqual({ __typename: 'Query' });
    } finally {
      // A crash leaves the lock file behind; the next process takes it over.
      await first.stop('SIGKILL');
    }
    expect(readdirSync(dataDir)).toContain('.lock');
    const rotate = await runNpmScript('keys:rotate', [], { ...FAST, DATA_DIR: dataDir });
    expect(rotate.stderr).toBe('');
    expect(rotate.code).toBe(0);
    expect(readdirSync(dataDir)).not.toContain('.lock');
  }, 120_000);

  it('a data directory this user may not write says what is wrong and how to fix the owner', async () => {
    const parent = scratch('identity-readonly-');
    const dataDir = join(parent, 'data');
    mkdirSync(dataDir);
    const asRoot = process.getuid?.() === 0;
    // root writes anywhere: run the server as nobody there; otherwise take the write bit away.
    if (!asRoot) chmodSync(dataDir, 0o555);
    chmodSync(parent, 0o755);
    const server = runServerProcess(
      { ...FAST, DATA_DIR: dataDir, PORT: String(await freePort()) },
      asRoot ? { uid: 65534, gid: 65534 } : {},
    );
    expect(await server.exited).toBe(1);
    const lines = server.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`DATA_DIR ${dataDir} is not writable by this process`);
    expect(lines[0]).toMatch(/chown -R \d+:\d+/);
    expect(lines[0]).not.toContain('undefined');
  }, 30_000);
});
