import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database, executeRows } from '../src/db/client.js';
import { tenants } from '../src/db/schema.js';
import { listUsers } from '../src/modules/users/users.queries.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

/**
 * The service's statements PostgreSQL keeps prepared for the (single) connection of `database`
 * (postgres.js prepares a few of its own, such as `commit`).
 */
async function preparedOnConnection(database: Database): Promise<string[]> {
  const rows = executeRows<{ statement: string }>(
    await database.db.execute(sql`select statement from pg_prepared_statements`),
  );
  return rows.map((row) => row.statement).filter((statement) => statement.includes('"tenants"'));
}

describe('prepared statements on PostgreSQL', () => {
  let testDatabase: TestDatabase;
  const opened: Database[] = [];
  const open = async (preparedStatements: boolean) => {
    // One connection, so that pg_prepared_statements describes the connection the queries used.
    const database = await connectDatabase({
      kind: 'postgres',
      url: testDatabase.url,
      poolMax: 1,
      preparedStatements,
    });
    opened.push(database);
    return database;
  };

  beforeAll(async () => {
    testDatabase = await createTestDatabase({ poolMax: 1 });
    await testDatabase.database.db.insert(tenants).values({ slug: 'acme', name: 'Acme' });
  });

  afterAll(async () => {
    for (const database of opened) await database.close();
    await testDatabase?.drop();
  });

  it('prepares each query once per connection, inside transactions too, and answers the same', async () => {
    const database = await open(true);
    const bySlug = (db: Database['db']) => db.select().from(tenants).where(eq(tenants.slug, 'acme'));
    const [first] = await bySlug(database.db);
    const [again] = await bySlug(database.db);
    const [inTransaction] = await database.db.transaction((tx) => bySlug(tx as never));
    expect(first?.slug).toBe('acme');
    expect(again).toEqual(first);
    expect(inTransaction).toEqual(first);
    const prepared = await preparedOnConnection(database);
    expect(prepared.filter((statement) => statement.includes('"tenants"."slug" = $1'))).toHaveLength(1);
  });

  it('plans a user search for its own term every time, where one plan cannot suit every term', async () => {
    const database = await open(true);
    const [tenant] = await database.db.select().from(tenants).where(eq(tenants.slug, 'acme'));
    if (!tenant) throw new Error('no tenant');
    const page = (search: string | null) =>
      listUsers(database.db, {
        tenantId: tenant.id,
        first: 5,
        after: null,
        search,
        role: null,
        status: null,
        field: 'CREATED_AT',
        direction: 'ASC',
      });
    for (let i = 0; i < 7; i++) await page(i % 2 ? 'ann' : 'zz');
    await page(null);
    const statements = executeRows<{ statement: string }>(
      await database.db.execute(sql`select statement from pg_prepared_statements`),
    ).map((row) => row.statement);
    const lists = statements.filter((statement) => statement.includes('from "users"'));
    // The page without a search is prepared once, and so is the search for a term too short for
    // the trigram index ("zz": one plan suits it, along the order); searches the index can serve
    // ("ann") never are.
    expect(lists).toHaveLength(2);
    expect(lists.filter((statement) => statement.includes('strpos('))).toHaveLength(1);
    for (const statement of lists) expect(statement).not.toContain(' like ');
  });

  it('prepares nothing with DATABASE_PREPARED_STATEMENTS=false (poolers that cannot keep them)', async () => {
    const database = await open(false);
    const [tenant] = await database.db.select().from(tenants).where(eq(tenants.slug, 'acme'));
    expect(tenant?.slug).toBe('acme');
    await database.db.transaction((tx) => tx.select().from(tenants).limit(1));
    await database.db.transaction((tx) =>
      tx.update(tenants).set({ name: 'Acme' }).where(eq(tenants.slug, 'acme')),
    );
    // Nothing at all: not the service's statements, and not the driver's own BEGIN and COMMIT,
    // which behind a pooler in transaction mode could land on another server connection.
    const all = executeRows<{ statement: string }>(
      await database.db.execute(sql`select statement from pg_prepared_statements`),
    );
    expect(all.map((row) => row.statement)).toEqual([]);
  });
});
