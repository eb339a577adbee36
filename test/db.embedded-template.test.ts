import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDatabase, executeRows, MIGRATIONS_FOLDER } from '../src/db/client.js';
import { freePort, postGraphQL, runServerProcess, tempDir, waitFor } from './support/process.js';

/**
 * The embedded database's template (src/db/embedded-template.ts): the build dumps a migrated
 * PGlite database to dist/embedded/, and a first start on an empty DATA_DIR unpacks it instead of
 * running initdb and every migration. What it unpacks must be the database the migrations make,
 * and a template of another migration set must never be used.
 */

// The built module: the template sits beside dist/, where the server looks for it.
const template = (await import(
  // @ts-expect-error: compiled output, no declarations next to it
  '../dist/db/embedded-template.js'
)) as typeof import('../src/db/embedded-template.js');

const dirs: { remove(): void }[] = [];
const scratch = (prefix: string) => {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return dir.path;
};
afterAll(() => {
  for (const dir of dirs) dir.remove();
});

const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
  entries: { tag: string }[];
};

describe('embedded database template', () => {
  it('was built for this migration set', () => {
    expect(existsSync(template.TEMPLATE_FILE)).toBe(true);
  });

  it('unpacks into an empty data directory as a database with every migration applied', async () => {
    const dataDir = scratch('identity-template-');
    expect(template.unpackTemplate(MIGRATIONS_FOLDER, dataDir)).toBe(true);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    const database = await connectDatabase({ kind: 'pglite', dataDir });
    try {
      const applied = executeRows<{ count: number }>(
        await database.db.execute('select count(*)::int as count from drizzle.__drizzle_migrations'),
      );
      expect(applied[0]?.count).toBe(journal.entries.length);
      // The migrator finds nothing left to do, and the schema is there.
      await database.migrate();
      const tables = executeRows<{ name: string }>(
        await database.db.execute("select tablename as name from pg_tables where schemaname = 'public'"),
      ).map((row) => row.name);
      expect(tables).toEqual(expect.arrayContaining(['tenants', 'users', 'sessions', 'audit_events']));
    } finally {
      await database.close();
    }
    // A data directory that holds a database is never unpacked over.
    expect(template.unpackTemplate(MIGRATIONS_FOLDER, dataDir)).toBe(false);
  });

  it('is not used for another migration set', () => {
    const migrations = scratch('identity-migrations-');
    cpSync(MIGRATIONS_FOLDER, migrations, { recursive: true });
    writeFileSync(join(migrations, '9999_later.sql'), 'select 1;\n');
    const dataDir = scratch('identity-template-other-');
    expect(template.unpackTemplate(migrations, dataDir)).toBe(false);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(false);
    expect(template.templateKey(migrations)).not.toBe(template.templateKey(MIGRATIONS_FOLDER));
  });

  it('a first start from it signs in the configured first admin (the password hashed while the database opened)', async () => {
    const dataDir = scratch('identity-template-start-');
    const port = await freePort();
    const server = runServerProcess({
      PORT: String(port),
      DATA_DIR: dataDir,
      BCRYPT_COST: '4',
      BOOTSTRAP_ADMIN_EMAIL: 'root@template.test',
      BOOTSTRAP_ADMIN_PASSWORD: 'violet-harbor-orbit-2719',
    });
    try {
      await waitFor(`http://127.0.0.1:${port}/ready`, 200, 60_000);
      const login = (password: string) =>
        postGraphQL(
          `http://127.0.0.1:${port}`,
          `mutation { login(input: { tenant: "system", email: "root@template.test", password: "${password}" }) { user { role } } }`,
        );
      expect((await login('violet-harbor-orbit-2719')).body.data?.login.user.role).toBe('ADMIN');
      expect((await login('violet-harbor-orbit-2720')).body.errors?.[0]?.extensions?.code).toBe(
        'UNAUTHENTICATED',
      );
      expect(await server.stop()).toBe(0);
    } finally {
      await server.stop('SIGKILL');
    }
  }, 90_000);
});
