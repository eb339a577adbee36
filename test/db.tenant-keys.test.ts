import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRows, MIGRATIONS_FOLDER } from '../src/db/client.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

/**
 * The schema rule that lets the tables be distributed by tenant (Citus) or hash-partitioned by
 * it, read from PostgreSQL's catalog after every migration, so that it holds for every table
 * added later as well: every table with a tenant_id is tenant-owned, its primary key starts with
 * tenant_id, every unique index includes tenant_id, and every foreign key to another tenant-owned
 * table includes tenant_id on both sides. Only the reference tables go without.
 */
const REFERENCE_TABLES = ['tenants', 'signing_keys'];

interface KeyRow {
  table: string;
  name: string;
  kind: string;
  columns: string[];
  referenced: string | null;
  referencedColumns: string[] | null;
}

/** The catalog's keys and unique indexes of the public tables, with their columns in order. */
const KEYS = sql`
  select c.relname as "table", con.conname as name, con.contype::text as kind,
    array(select a.attname::text from unnest(con.conkey) with ordinality k(attnum, n)
      join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum order by k.n) as columns,
    rc.relname as referenced,
    case when con.confrelid = 0 then null else array(select a.attname::text
      from unnest(con.confkey) with ordinality k(attnum, n)
      join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum order by k.n) end
      as "referencedColumns"
  from pg_constraint con
  join pg_class c on c.oid = con.conrelid
  join pg_namespace ns on ns.oid = c.relnamespace and ns.nspname = 'public'
  left join pg_class rc on rc.oid = con.confrelid
  where con.contype in ('p', 'u', 'f')
  union all
  select t.relname, i.relname, 'unique index',
    array(select coalesce(a.attname::text, '(expression)') from unnest(x.indkey) with ordinality k(attnum, n)
      left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum order by k.n),
    null, null
  from pg_index x
  join pg_class i on i.oid = x.indexrelid
  join pg_class t on t.oid = x.indrelid
  join pg_namespace ns on ns.oid = t.relnamespace and ns.nspname = 'public'
  where x.indisunique and not x.indisprimary
    and not exists (select 1 from pg_constraint con where con.conindid = x.indexrelid)`;

const TABLES_WITH_TENANT = sql`
  select c.relname as "table", exists (select 1 from pg_attribute a
    where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped) as "hasTenant"
  from pg_class c join pg_namespace ns on ns.oid = c.relnamespace and ns.nspname = 'public'
  where c.relkind in ('r', 'p') and not c.relispartition`;

/** Every breach of the rule, as a readable line; empty when the schema follows it. */
function breaches(tables: { table: string; hasTenant: boolean }[], keys: KeyRow[]): string[] {
  const owned = new Set(tables.filter((t) => !REFERENCE_TABLES.includes(t.table)).map((t) => t.table));
  const found: string[] = [];
  for (const { table, hasTenant } of tables) {
    if (owned.has(table) && !hasTenant) found.push(`${table}: a tenant-owned table without tenant_id`);
  }
  for (const key of keys.filter((k) => owned.has(k.table))) {
    if (key.kind === 'p' && key.columns[0] !== 'tenant_id') {
      found.push(`${key.table}: primary key (${key.columns}) does not start with tenant_id`);
    }
    if ((key.kind === 'u' || key.kind === 'unique index') && !key.columns.includes('tenant_id')) {
      found.push(`${key.table}: unique ${key.name} (${key.columns}) lacks tenant_id`);
    }
    if (key.kind === 'f' && key.referenced && owned.has(key.referenced)) {
      const at = key.columns.indexOf('tenant_id');
      if (at < 0 || key.referencedColumns?.[at] !== 'tenant_id') {
        found.push(`${key.table}: foreign key ${key.name} to ${key.referenced} does not carry tenant_id`);
      }
    }
  }
  for (const table of owned) {
    if (!keys.some((k) => k.table === table && k.kind === 'p')) found.push(`${table}: no primary key`);
  }
  return found;
}

describe('the Citus-ready key rule', () => {
  let testDatabase: TestDatabase;
  beforeAll(async () => {
    testDatabase = await createTestDatabase({ poolMax: 1 });
  });
  afterAll(async () => {
    await testDatabase?.drop();
  });

  it('holds for every table the migrations create', async () => {
    const { db } = testDatabase.database;
    const tables = executeRows<{ table: string; hasTenant: boolean }>(await db.execute(TABLES_WITH_TENANT));
    const keys = executeRows<KeyRow>(await db.execute(KEYS));
    expect(tables.map((t) => t.table)).toEqual(
      expect.arrayContaining(['users', 'sessions', 'spent_refresh_tokens', 'audit_events']),
    );
    expect(breaches(tables, keys)).toEqual([]);
    // Others can reference a user by the key distributed tables need.
    expect(keys).toContainEqual(
      expect.objectContaining({ table: 'users', kind: 'p', columns: ['tenant_id', 'id'] }),
    );
  });

  it('finds a breach of each kind (the check above can fail)', () => {
    const tables = [
      { table: 'tenants', hasTenant: false },
      { table: 'notes', hasTenant: true },
      { table: 'loose', hasTenant: false },
    ];
    const keys: KeyRow[] = [
      {
        table: 'notes',
        name: 'notes_pkey',
        kind: 'p',
        columns: ['id'],
        referenced: null,
        referencedColumns: null,
      },
      {
        table: 'notes',
        name: 'notes_slug',
        kind: 'unique index',
        columns: ['slug'],
        referenced: null,
        referencedColumns: null,
      },
      {
        table: 'notes',
        name: 'notes_user_fk',
        kind: 'f',
        columns: ['user_id'],
        referenced: 'loose',
        referencedColumns: ['id'],
      },
      {
        table: 'notes',
        name: 'notes_tenant_fk',
        kind: 'f',
        columns: ['tenant_id'],
        referenced: 'tenants',
        referencedColumns: ['id'],
      },
    ];
    expect(breaches(tables, keys)).toEqual([
      'loose: a tenant-owned table without tenant_id',
      'notes: primary key (id) does not start with tenant_id',
      'notes: unique notes_slug (slug) lacks tenant_id',
      'notes: foreign key notes_user_fk to loose does not carry tenant_id',
      'loose: no primary key',
    ]);
  });
});

describe('upgrading a database that has data (PGlite)', () => {
  let folder: string;
  beforeAll(() => {
    // The migrations as they were before tenant keys: the same files, the journal cut at 0003.
    folder = mkdtempSync(join(tmpdir(), 'identity-migrations-'));
    cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journalPath = join(folder, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    const cut = journal.entries.findIndex((entry) => entry.tag.startsWith('0004_'));
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
  });
  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it('keeps every row, and marks the open sessions as holding tokens without a tenant', async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
    const { btree_gin } = await import('@electric-sql/pglite/contrib/btree_gin');
    const client = await PGlite.create({ extensions: { pg_trgm, btree_gin } });
    try {
      const db = drizzle(client);
      await migrate(db, { migrationsFolder: folder });
      await client.exec(`
        insert into tenants (id, slug, name) values ('00000000-0000-7000-8000-000000000001', 'acme', 'Acme');
        insert into users (id, tenant_id, email, password_hash)
          values ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001', 'a@acme.test', 'x');
        insert into sessions (id, tenant_id, user_id, refresh_token_hash, expires_at)
          values ('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-000000000001',
            '00000000-0000-7000-8000-000000000002', '\\x01', now() + interval '1 day');
        insert into spent_refresh_tokens (token_hash, tenant_id, session_id)
          values ('\\x02', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000003');
        insert into audit_events (id, tenant_id, action)
          values ('00000000-0000-7000-8000-000000000004', '00000000-0000-7000-8000-000000000001', 'x');`);
      await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
      const counts = await client.query<{ n: number }>(
        `select (select count(*) from users) + (select count(*) from sessions)
          + (select count(*) from spent_refresh_tokens) + (select count(*) from audit_events) as n`,
      );
      expect(Number(counts.rows[0]?.n)).toBe(4);
      const old = await client.query<{ legacy_refresh_token: boolean }>(
        'select legacy_refresh_token from sessions',
      );
      expect(old.rows).toEqual([{ legacy_refresh_token: true }]);
      // Sessions opened from now on hold new-format tokens.
      await client.exec(`insert into sessions (id, tenant_id, user_id, refresh_token_hash, expires_at)
        values ('00000000-0000-7000-8000-000000000005', '00000000-0000-7000-8000-000000000001',
          '00000000-0000-7000-8000-000000000002', '\\x03', now() + interval '1 day')`);
      const fresh = await client.query<{ legacy_refresh_token: boolean }>(
        `select legacy_refresh_token from sessions where refresh_token_hash = '\\x03'`,
      );
      expect(fresh.rows).toEqual([{ legacy_refresh_token: false }]);
      // Within a tenant a refresh-token hash is still unique.
      await expect(
        client.exec(`insert into sessions (id, tenant_id, user_id, refresh_token_hash, expires_at)
          values ('00000000-0000-7000-8000-000000000006', '00000000-0000-7000-8000-000000000001',
            '00000000-0000-7000-8000-000000000002', '\\x03', now() + interval '1 day')`),
      ).rejects.toThrow(/sessions_refresh_token_hash_key/);
    } finally {
      await client.close();
    }
    // PGlite starts a fresh cluster and applies every migration twice: seconds on a busy machine.
  }, 180_000);
});
