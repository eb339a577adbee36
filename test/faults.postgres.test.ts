import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../src/db/client.js';
import type { TestDatabase } from './support/db.js';
import {
  type Actor,
  CREATE_TENANT,
  CREATE_USER,
  makeTenant,
  PASSWORD,
  signInSystemAdmin,
  type TenantHandle,
  uniqueSlug,
} from './support/fixtures.js';
import { type PostgresProcess, startPostgresProcess } from './support/postgres-process.js';
import { type GraphQLResponse, startTestServer, type TestServer } from './support/server.js';

/**
 * PostgreSQL (a private cluster of the test's own) crashes and restarts under traffic: requests
 * meanwhile fail cleanly (no stack, no driver message), the pool recovers by itself, and no
 * tenant, user or session is left half-written.
 */

let cluster: PostgresProcess;
let server: TestServer;
let system: Actor;
let tenant: TenantHandle;

beforeAll(async () => {
  cluster = await startPostgresProcess();
  const name = `identity_fault_${randomBytes(3).toString('hex')}`;
  const url = await cluster.createDatabase(name);
  const database = await connectDatabase({ kind: 'postgres', url, poolMax: 8 });
  const testDatabase: TestDatabase = { database, url, name, drop: () => database.close() };
  // The server migrates and bootstraps this empty database itself.
  server = await startTestServer({}, { database: testDatabase });
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await server?.testDatabase.drop();
  await cluster?.destroy();
});

type Operation = (i: number) => Promise<GraphQLResponse>;
const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { session { id } } }';
const operations: Record<string, Operation> = {
  createTenant: (i) => {
    const slug = uniqueSlug(`f${i}`);
    return server.gql(
      CREATE_TENANT,
      { input: { slug, name: slug, adminEmail: `admin@${slug}.test`, adminPassword: PASSWORD } },
      { token: system.token },
    );
  },
  createUser: () =>
    server.gql(
      CREATE_USER,
      { input: { email: `${uniqueSlug('u')}@example.test`, password: PASSWORD } },
      { token: tenant.admin.token },
    ),
  login: () =>
    server.gql(LOGIN, { input: { tenant: tenant.slug, email: tenant.admin.email, password: PASSWORD } }),
  me: () => server.gql('{ me { id email tenant { name } } }', {}, { token: tenant.admin.token }),
  users: () =>
    server.gql('{ users(first: 5) { totalCount nodes { id } } }', {}, { token: tenant.admin.token }),
};

describe('PostgreSQL restarted under traffic', () => {
  it('fails requests cleanly meanwhile, recovers without a restart, and leaves nothing half-written', async () => {
    const outcomes: { name: string; at: number; answer: GraphQLResponse }[] = [];
    let running = true;
    const workers = Array.from({ length: 6 }, async (_, worker) => {
      for (let i = 0; running; i++) {
        const name = Object.keys(operations)[(worker + i) % 5] as string;
        const answer = await (operations[name] as Operation)(i).catch(
          (error: Error) =>
            ({
              status: 0,
              errors: [{ message: `request failed: ${error.message}` }],
            }) as unknown as GraphQLResponse,
        );
        outcomes.push({ name, at: Date.now(), answer });
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const crashed = Date.now();
    await cluster.stop('immediate');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await cluster.start();
    const restarted = Date.now();
    // Recovered: every kind of operation succeeds again, with the same server process.
    const recovered = new Set<string>();
    const deadline = Date.now() + 20_000;
    while (recovered.size < 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const o of outcomes) if (o.at > restarted && !o.answer.errors) recovered.add(o.name);
    }
    running = false;
    await Promise.all(workers);
    expect([...recovered].sort()).toEqual(Object.keys(operations).sort());

    const failed = outcomes.filter((o) => o.answer.errors);
    expect(failed.length, 'the outage must have been noticed').toBeGreaterThan(0);
    expect(failed.every((o) => o.at >= crashed)).toBe(true);
    for (const { answer } of failed) {
      expect([200, 503]).toContain(answer.status);
      for (const error of answer.errors ?? []) {
        expect(error.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
        expect(error.message).toBe('The service is temporarily unavailable. Try again shortly.');
        expect(error.extensions).not.toHaveProperty('stacktrace');
      }
    }
    const firstSuccess = Object.keys(operations).map((name) =>
      Math.min(
        ...outcomes.filter((o) => o.name === name && o.at > restarted && !o.answer.errors).map((o) => o.at),
      ),
    );
    console.info(
      `postgres restart: ${outcomes.length} requests, ${failed.length} failed cleanly; every operation succeeded again within ${Math.max(...firstSuccess) - restarted} ms of the restart`,
    );

    // Nothing half-written: every tenant has its ADMIN and its audit record, every user created
    // through the API its audit record, every session the sign-in that made it.
    const sql = postgres(server.testDatabase.url, { max: 1, onnotice: () => {} });
    try {
      const orphans = await sql`
        select
          (select count(*) from tenants t where not exists (
             select 1 from users u where u.tenant_id = t.id and u.role = 'ADMIN')) as tenants_without_admin,
          (select count(*) from tenants t where t.slug <> 'system' and not exists (
             select 1 from audit_events e where e.action = 'tenant.created' and e.target_id = t.id)) as tenants_unaudited,
          (select count(*) from users u where u.tenant_id <> (select id from tenants where slug = 'system') and not exists (
             select 1 from audit_events e where e.action = 'user.created' and e.target_id = u.id)) as users_unaudited,
          (select count(*) from sessions s where not exists (
             select 1 from audit_events e where e.action = 'auth.login.succeeded' and e.target_id = s.id)) as sessions_unaudited`;
      expect(orphans[0]).toEqual({
        tenants_without_admin: '0',
        tenants_unaudited: '0',
        users_unaudited: '0',
        sessions_unaudited: '0',
      });
      const created = outcomes.filter((o) => o.name === 'createUser' && !o.answer.errors);
      const ids = created.map((o) => (o.answer.data as { createUser: { id: string } }).createUser.id);
      const [found] = await sql`select count(*)::int as n from users where id = any(${ids})`;
      expect(found?.n).toBe(ids.length);
    } finally {
      await sql.end({ timeout: 5 });
    }
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  }, 60_000);
});
