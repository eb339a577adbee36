import type postgres from 'postgres';

/**
 * Citus itself is not in Debian's packages. PostgreSQL's own `PARTITION BY HASH (tenant_id)`
 * enforces the rule a distributed table needs (every primary key and unique constraint includes
 * the distribution column) and prunes a statement to the partitions its tenant_id can reach, so a
 * hash-partitioned copy of the schema is a faithful local stand-in: a statement that touches one
 * partition would touch one shard.
 */

/** The reference tables: copied whole to every Citus node, left as they are here. */
export const REFERENCE_TABLES = ['tenants', 'signing_keys'];
export const PARTITIONS = 8;

/**
 * Rebuilds every tenant-owned table of the migrated database `sql` is connected to (every public
 * table with a tenant_id column, reference tables aside) as `PARTITION BY HASH (tenant_id)` with
 * `PARTITIONS` partitions named `<table>_p<n>`, then applies the migrations' own primary keys,
 * unique constraints, indexes and foreign keys to it, unchanged. A key that breaks the rule makes
 * PostgreSQL refuse it here, and this throws. The tables must be empty.
 */
export async function partitionByTenant(sql: postgres.Sql): Promise<string[]> {
  const owned = (
    await sql<{ table: string }[]>`
      select c.relname as table from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
      where c.relkind = 'r' and not c.relispartition
        and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
        and c.relname <> all(${REFERENCE_TABLES})
      order by c.relname`
  ).map((row) => row.table);

  // What the migrations built on those tables, to be applied again to the partitioned ones.
  const constraints = await sql<{ table: string; name: string; kind: string; definition: string }[]>`
    select c.relname as table, con.conname as name, con.contype::text as kind,
      pg_get_constraintdef(con.oid) as definition
    from pg_constraint con join pg_class c on c.oid = con.conrelid
    join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
    left join pg_class rc on rc.oid = con.confrelid
    where con.contype in ('p', 'u', 'f') and (c.relname = any(${owned}) or rc.relname = any(${owned}))`;
  const indexes = await sql<{ definition: string }[]>`
    select pg_get_indexdef(x.indexrelid) as definition
    from pg_index x join pg_class t on t.oid = x.indrelid
    join pg_namespace n on n.oid = t.relnamespace and n.nspname = 'public'
    where t.relname = any(${owned})
      and not exists (select 1 from pg_constraint con where con.conindid = x.indexrelid)`;
  const options = await sql<{ table: string; reloptions: string[] | null }[]>`
    select relname as table, reloptions from pg_class where relname = any(${owned}) and relkind = 'r'`;

  await sql.begin(async (tx) => {
    for (const fk of constraints.filter((c) => c.kind === 'f')) {
      await tx.unsafe(`alter table "${fk.table}" drop constraint "${fk.name}"`);
    }
    for (const table of owned) {
      await tx.unsafe(`alter table "${table}" rename to "${table}_unpartitioned"`);
      await tx.unsafe(
        `create table "${table}" (like "${table}_unpartitioned" including defaults) partition by hash (tenant_id)`,
      );
      for (let i = 0; i < PARTITIONS; i++) {
        const storage = options.find((o) => o.table === table)?.reloptions;
        await tx.unsafe(
          `create table "${table}_p${i}" partition of "${table}" for values with (modulus ${PARTITIONS}, remainder ${i})${storage?.length ? ` with (${storage.join(', ')})` : ''}`,
        );
      }
      await tx.unsafe(`drop table "${table}_unpartitioned"`);
    }
    for (const key of constraints.filter((c) => c.kind !== 'f')) {
      await tx.unsafe(`alter table "${key.table}" add constraint "${key.name}" ${key.definition}`);
    }
    for (const index of indexes) await tx.unsafe(index.definition);
    for (const fk of constraints.filter((c) => c.kind === 'f')) {
      await tx.unsafe(`alter table "${fk.table}" add constraint "${fk.name}" ${fk.definition}`);
    }
  });
  return owned;
}

export interface PlanTouch {
  /** Partitions of each tenant-owned table the plan reads or writes. */
  perTable: Record<string, number>;
  /** The most partitions of any one table: the shards the statement reaches. */
  partitions: number;
}

/**
 * The partitions a statement's plan (EXPLAIN, planned with its actual values, so pruned as it
 * would run) reads or writes. An INSERT routes each row to the partition of its tenant_id: one.
 */
export async function partitionsTouched(
  sql: postgres.Sql,
  owned: readonly string[],
  query: string,
  params: unknown[],
): Promise<PlanTouch> {
  const [row] = await sql.unsafe(`explain (format json) ${query}`, params as never[]);
  const plan = (row as Record<string, unknown>)['QUERY PLAN'] as [{ Plan: PlanNode }];
  const touched = new Map<string, Set<string>>();
  const note = (table: string, partition: string) => {
    const set = touched.get(table) ?? new Set<string>();
    set.add(partition);
    touched.set(table, set);
  };
  const walk = (node: PlanNode) => {
    const relation = node['Relation Name'];
    if (relation) {
      const partition = /^(.*)_p\d+$/.exec(relation);
      if (partition?.[1] && owned.includes(partition[1])) note(partition[1], relation);
      else if (owned.includes(relation) && node.Operation === 'Insert') note(relation, 'routed');
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(plan[0].Plan);
  const perTable = Object.fromEntries([...touched].map(([table, set]) => [table, set.size]));
  return { perTable, partitions: Math.max(0, ...Object.values(perTable)) };
}

interface PlanNode {
  'Relation Name'?: string;
  Operation?: string;
  Plans?: PlanNode[];
}
