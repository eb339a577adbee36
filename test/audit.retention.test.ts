import { count, eq, lt, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { connectDatabase, type Database, LOCKS } from '../src/db/client.js';
import { auditEvents, tenants } from '../src/db/schema.js';
import { purgeAuditEvents } from '../src/modules/audit/retention.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

/**
 * Retention: purgeAuditEvents against a real test database, alone and as two instances at once
 * (each with its own connection pool), with more events than one batch.
 */

const DAY = 86_400_000;
const now = new Date('2026-06-01T12:00:00.000Z');
const cutoff = new Date(now.getTime() - 365 * DAY);
let testDatabase: TestDatabase;
let second: Database;
let tenantId: string;

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  second = await connectDatabase({ kind: 'postgres', url: testDatabase.url, poolMax: 4 });
  const [tenant] = await testDatabase.database.db
    .insert(tenants)
    .values({ slug: 'retention', name: 'Retention', settings: {}, createdAt: now, updatedAt: now })
    .returning();
  tenantId = tenant?.id as string;
});
afterAll(async () => {
  await second?.close();
  await testDatabase?.drop();
});
beforeEach(async () => {
  await testDatabase.database.db.delete(auditEvents);
});

const db = () => testDatabase.database.db;

/** `n` events, one millisecond apart, the newest at `newest`. */
async function insertEvents(n: number, newest: Date, action: string) {
  await db().execute(sql`
    insert into audit_events (id, tenant_id, action, created_at)
    select gen_random_uuid(), ${tenantId}::uuid, ${action}, ${newest.toISOString()}::timestamptz - (g * interval '1 millisecond')
    from generate_series(0, ${n - 1}) as g`);
}

async function countWhere(action: string): Promise<number> {
  const [row] = await db().select({ n: count() }).from(auditEvents).where(eq(auditEvents.action, action));
  return row?.n ?? 0;
}

describe('purgeAuditEvents', () => {
  it('deletes events older than the cutoff, in batches, and keeps the rest', async () => {
    await insertEvents(12_345, new Date(cutoff.getTime() - 1), 'old');
    await insertEvents(50, now, 'recent');
    // Exactly at the cutoff is not older than it.
    await db().insert(auditEvents).values({ tenantId, action: 'edge', createdAt: cutoff });

    expect(await purgeAuditEvents(db(), cutoff)).toBe(12_345);
    expect(await countWhere('old')).toBe(0);
    expect(await countWhere('recent')).toBe(50);
    expect(await countWhere('edge')).toBe(1);
    // Nothing left to do: a second run is a no-op.
    expect(await purgeAuditEvents(db(), cutoff)).toBe(0);
  });

  it('is safe when two instances run it at once: every old event deleted once, nothing else', async () => {
    await insertEvents(20_000, new Date(cutoff.getTime() - DAY), 'old');
    await insertEvents(100, now, 'recent');

    const [one, two] = await Promise.all([
      purgeAuditEvents(db(), cutoff),
      purgeAuditEvents(second.db, cutoff),
    ]);
    expect(one + two).toBe(20_000);
    expect(await countWhere('old')).toBe(0);
    expect(await countWhere('recent')).toBe(100);
    const [left] = await db()
      .select({ n: count() })
      .from(auditEvents)
      .where(lt(auditEvents.createdAt, cutoff));
    expect(left?.n).toBe(0);
  });

  it('keeps the trail intact while an instance skips a run another holds', async () => {
    await insertEvents(3, new Date(cutoff.getTime() - DAY), 'old');
    // Another instance holds the purge lock: this run skips rather than waits or double-deletes.
    const holder = await connectDatabase({ kind: 'postgres', url: testDatabase.url, poolMax: 1 });
    try {
      await holder.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${LOCKS.auditPurge.toString()}::bigint)`);
        expect(await purgeAuditEvents(db(), cutoff)).toBe(0);
      });
    } finally {
      await holder.close();
    }
    expect(await countWhere('old')).toBe(3);
    expect(await purgeAuditEvents(db(), cutoff)).toBe(3);
  });
});

describe('AUDIT_RETENTION_DAYS', () => {
  it('defaults to 365 days and accepts 1 to 36,500', () => {
    expect(loadConfig({}).auditRetentionDays).toBe(365);
    expect(loadConfig({ AUDIT_RETENTION_DAYS: '30' }).auditRetentionDays).toBe(30);
    expect(() => loadConfig({ AUDIT_RETENTION_DAYS: '0' })).toThrow(/AUDIT_RETENTION_DAYS/);
    expect(() => loadConfig({ AUDIT_RETENTION_DAYS: 'a year' })).toThrow(/AUDIT_RETENTION_DAYS/);
  });
});
