import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../src/db/client.js';
import { attemptLogin, attemptRefresh, loginUser, type SignedIn, tokenWorks } from './support/fixtures.js';
import { type PostgresProcess, startPostgresProcess } from './support/postgres-process.js';
import { type PostgresReplica, startReplica } from './support/postgres-replica.js';
import { SYSTEM_ADMIN, startTestServer, type TestServer } from './support/server.js';

/**
 * DATABASE_READ_URL pointed at a real streaming replica that applies every commit APPLY_DELAY_MS
 * late. Admin lists (users, audit events) may come from it and lag; nothing that decides access
 * may: a sign-out, a demotion and a password change take effect on the very next request.
 */

const APPLY_DELAY_MS = 4_000;
const inCi = process.env.CI === 'true';
const PASSWORD = 'Replica test passphrase 7!';

let primary: PostgresProcess | undefined;
let replica: PostgresReplica | undefined;
let server: TestServer;
let unavailable: string | undefined;
let primarySql: postgres.Sql;
let replicaSql: postgres.Sql;

/** Waits until the replica has applied everything the primary has committed so far. */
async function replicaCaughtUp(): Promise<void> {
  const [{ lsn }] = (await primarySql`select pg_current_wal_lsn()::text as lsn`) as unknown as [
    { lsn: string },
  ];
  for (let i = 0; i < 300; i++) {
    const [row] = await replicaSql`select pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn as done`;
    if (row?.done) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the replica did not catch up within 30 s');
}

beforeAll(async () => {
  const name = `identity_replica_${randomBytes(3).toString('hex')}`;
  try {
    primary = await startPostgresProcess();
    await primary.createDatabase(name);
    replica = await startReplica(primary, APPLY_DELAY_MS);
  } catch (error) {
    const line = `db.replica.test.ts: could not start a streaming replica (${(error as Error).message.split('\n')[0]})`;
    await replica?.destroy();
    await primary?.destroy();
    if (inCi) throw new Error(line);
    console.warn(`${line}: skipped`);
    unavailable = line;
    return;
  }
  primarySql = postgres(primary.url(name), { max: 1, onnotice: () => {} });
  replicaSql = postgres(replica.url(name), { max: 1, onnotice: () => {} });
  const database = await connectDatabase({
    kind: 'postgres',
    url: primary.url(name),
    readUrl: replica.url(name),
    poolMax: 10,
  });
  server = await startTestServer(
    {},
    {
      database: { database, url: primary.url(name), name, drop: async () => {} },
    },
  );
  // The schema and the first ADMIN, migrated on the primary, reach the replica after the delay.
  await replicaCaughtUp();
}, 180_000);

afterAll(async () => {
  await server?.close();
  await server?.testDatabase.database.close();
  await primarySql?.end({ timeout: 5 });
  await replicaSql?.end({ timeout: 5 });
  await replica?.destroy();
  await primary?.destroy();
});

async function ok<T = unknown>(response: Promise<{ errors?: unknown; data?: unknown }>): Promise<T> {
  const answer = await response;
  if (answer.errors) throw new Error(JSON.stringify(answer.errors));
  return answer.data as never;
}

describe('with a lagging read replica (DATABASE_READ_URL)', () => {
  let admin: SignedIn;
  let slug: string;
  const as = (who: SignedIn, query: string, variables: Record<string, unknown> = {}) =>
    server.gql(query, variables, { token: who.accessToken });
  const createUser = async (role: string) => {
    const email = `${role.toLowerCase()}-${randomBytes(3).toString('hex')}@${slug}.test`;
    const { createUser: user } = await ok<{ createUser: { id: string } }>(
      as(admin, 'mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }', {
        i: { email, password: PASSWORD, role },
      }),
    );
    return { id: user.id, email };
  };

  beforeAll(async () => {
    if (unavailable) return;
    const system = await loginUser(server, { tenant: 'system', ...SYSTEM_ADMIN });
    slug = `replica-${randomBytes(3).toString('hex')}`;
    await ok(
      as(system, 'mutation ($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }', {
        i: { name: 'Replica', slug, adminEmail: `owner@${slug}.test`, adminPassword: PASSWORD },
      }),
    );
    admin = await loginUser(server, { tenant: slug, email: `owner@${slug}.test`, password: PASSWORD });
  });

  it('serves the users list and the audit trail from the replica: a new user shows there only later', async (ctx) => {
    if (unavailable) return ctx.skip();
    const made = await createUser('USER');
    const listed = async () =>
      (
        await ok<{ users: { nodes: { id: string }[] } }>(as(admin, '{ users(first: 100) { nodes { id } } }'))
      ).users.nodes.map((u) => u.id);
    const audited = async () =>
      (
        await ok<{ auditEvents: { nodes: { targetId: string | null }[] } }>(
          as(admin, '{ auditEvents(first: 50) { nodes { targetId } } }'),
        )
      ).auditEvents.nodes.map((e) => e.targetId);
    expect(await listed()).not.toContain(made.id);
    expect(await audited()).not.toContain(made.id);
    // The user exists at once wherever it matters: it can sign in.
    expect((await attemptLogin(server, slug, made.email, PASSWORD)).errors).toBeUndefined();
    await replicaCaughtUp();
    expect(await listed()).toContain(made.id);
    expect(await audited()).toContain(made.id);
  });

  it('ends a session at once on sign-out: its access and refresh tokens stop working', async (ctx) => {
    if (unavailable) return ctx.skip();
    const { email } = await createUser('USER');
    const user = await loginUser(server, { tenant: slug, email, password: PASSWORD });
    expect(await tokenWorks(server, user.accessToken)).toBe(true);
    await ok(as(user, 'mutation { logout }'));
    expect(await tokenWorks(server, user.accessToken)).toBe(false);
    expect((await attemptRefresh(server, user.refreshToken)).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('applies a demotion at once: the demoted ADMIN can no longer list users', async (ctx) => {
    if (unavailable) return ctx.skip();
    const { id, email } = await createUser('ADMIN');
    const other = await loginUser(server, { tenant: slug, email, password: PASSWORD });
    expect((await as(other, '{ users(first: 5) { nodes { id } } }')).errors).toBeUndefined();
    await ok(as(admin, 'mutation ($id: ID!) { updateUser(id: $id, input: { role: USER }) { id } }', { id }));
    const after = await as(other, '{ users(first: 5) { nodes { id } } }');
    expect(after.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await ok<{ me: { role: string } }>(as(other, '{ me { role } }'))).me.role).toBe('USER');
  });

  it('applies a password change at once: the old password and the other sessions are out', async (ctx) => {
    if (unavailable) return ctx.skip();
    const { email } = await createUser('USER');
    const first = await loginUser(server, { tenant: slug, email, password: PASSWORD });
    const second = await loginUser(server, { tenant: slug, email, password: PASSWORD });
    const newPassword = 'Replica changed passphrase 8!';
    await ok(
      as(first, 'mutation ($i: ChangePasswordInput!) { changePassword(input: $i) }', {
        i: { currentPassword: PASSWORD, newPassword },
      }),
    );
    expect(await tokenWorks(server, second.accessToken)).toBe(false);
    expect((await attemptLogin(server, slug, email, PASSWORD)).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    expect((await attemptLogin(server, slug, email, newPassword)).errors).toBeUndefined();
    // And a second change needs the new current password, checked on the primary.
    const wrong = await as(first, 'mutation ($i: ChangePasswordInput!) { changePassword(input: $i) }', {
      i: { currentPassword: PASSWORD, newPassword: 'Replica third passphrase 9!' },
    });
    expect(wrong.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
