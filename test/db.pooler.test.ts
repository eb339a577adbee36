import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl, TEST_DATABASE_URL, TEST_REDIS_URL } from './support/env.js';
import { PGBOUNCER, type Pgbouncer, startPgbouncer } from './support/pgbouncer.js';
import { freePort, postGraphQL, runServerProcess, type ServerProcess, waitFor } from './support/process.js';

/**
 * The service behind PgBouncer in transaction mode, the way the README's recipe runs it: two
 * server processes (the built server) start at once on an empty database through the pooler
 * (DATABASE_URL, DATABASE_PREPARED_STATEMENTS=false) with migrations and locks on the direct
 * connection (DATABASE_DIRECT_URL). Many users then sign up, sign in, refresh, change their
 * password and sign out at once, and ADMINs create and change users, all through the pooler;
 * every write the service acknowledged must then be in the database, read directly.
 *
 * The pooler has fewer server connections than the instances have clients, so consecutive
 * statements of one client land on different server connections (what lost acknowledged commits
 * while the driver still prepared its own COMMIT by name).
 */

const inCi = process.env.CI === 'true';
if (!PGBOUNCER && !inCi) {
  console.warn('db.pooler.test.ts: skipped, pgbouncer is not installed (apt-get install pgbouncer)');
}

const ADMIN = { email: 'root@pooler.test', password: 'correct horse battery staple 42' };
const PASSWORD = 'Pooler test passphrase 9!';
const NEW_PASSWORD = 'Pooler test passphrase 10!';
const JOURNEYS = 16;
const CREATED_BY_ADMIN = 12;

const name = `identity_test_db_${Date.now()}_${process.pid}_pool${randomBytes(2).toString('hex')}`;
const prefix = `test:${name}:`;
const sha256 = (text: string) => createHash('sha256').update(text).digest();

describe.skipIf(!PGBOUNCER && !inCi)('through PgBouncer in transaction mode', () => {
  let bouncer: Pgbouncer;
  const servers: ServerProcess[] = [];
  let direct: postgres.Sql;

  beforeAll(async () => {
    // In CI this throws when pgbouncer cannot start: the test fails rather than skip.
    bouncer = await startPgbouncer(TEST_DATABASE_URL, { poolSize: 3 });
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database "${name}"`).finally(() => admin.end({ timeout: 5 }));
    direct = postgres(databaseUrl(name), { max: 2, onnotice: () => {} });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await direct?.end({ timeout: 5 });
    await bouncer?.stop();
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin
      .unsafe(`drop database if exists "${name}" with (force)`)
      .finally(() => admin.end({ timeout: 5 }));
  });

  it('lets two instances starting at once on an empty database both become ready', async () => {
    for (let i = 0; i < 2; i++) {
      servers.push(
        runServerProcess({
          PORT: String(await freePort()),
          NODE_ENV: 'production',
          LOG_LEVEL: 'warn',
          DATABASE_URL: bouncer.url(databaseUrl(name)),
          DATABASE_DIRECT_URL: databaseUrl(name),
          DATABASE_PREPARED_STATEMENTS: 'false',
          DATABASE_POOL_MAX: '8',
          REDIS_URL: TEST_REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          BCRYPT_COST: '4',
          RATE_LIMIT_AUTH_PER_MINUTE: '100000',
          BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
          BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
          // One deployment behind one address: a token of one instance is good at the other.
          PUBLIC_URL: 'http://identity.pooler.test',
        }),
      );
    }
    const ready = await Promise.allSettled(servers.map((s) => waitFor(`${s.url}/ready`, 200, 60_000)));
    const failed = ready.flatMap((r, i) =>
      r.status === 'rejected' ? [`${i}: ${servers[i]?.output()}`] : [],
    );
    expect(failed, bouncer.log().slice(-2_000)).toEqual([]);
    // Migrated once, and one system ADMIN.
    const [admins] = await direct`select count(*)::int as n from users where email = ${ADMIN.email}`;
    expect(admins?.n).toBe(1);
  }, 90_000);

  it('keeps every write it acknowledged, under concurrency', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const on = (i: number) => (i % 2 === 0 ? a : b).url;
    const gql = async (url: string, query: string, variables: Record<string, unknown>, token?: string) => {
      const { body } = await postGraphQL(url, query, variables, token);
      if (body.errors) throw new Error(`${query.slice(0, 40)}: ${JSON.stringify(body.errors)}`);
      return body.data;
    };
    const TOKENS = 'accessToken refreshToken user { id } session { id }';

    const system = (
      await gql(a.url, `mutation ($i: LoginInput!) { login(input: $i) { ${TOKENS} } }`, {
        i: { tenant: 'system', ...ADMIN },
      })
    ).login;
    const slug = `pool-${randomBytes(3).toString('hex')}`;
    const created = (
      await gql(
        a.url,
        'mutation ($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } admin { id } } }',
        { i: { name: 'Pooler', slug, adminEmail: `admin@${slug}.test`, adminPassword: PASSWORD } },
        system.accessToken,
      )
    ).createTenant;
    const tenantId: string = created.tenant.id;
    const tenantAdmin = (
      await gql(b.url, `mutation ($i: LoginInput!) { login(input: $i) { ${TOKENS} } }`, {
        i: { tenant: slug, email: `admin@${slug}.test`, password: PASSWORD },
      })
    ).login;

    // Each journey alternates between the instances: sign up, sign in, refresh, change the
    // password (which ends the other session), sign out.
    const journeys = Array.from({ length: JOURNEYS }, async (_, i) => {
      const email = `user${i}@${slug}.test`;
      const registered = (
        await gql(on(i), `mutation ($i: RegisterInput!) { register(input: $i) { ${TOKENS} } }`, {
          i: { tenant: slug, email, password: PASSWORD },
        })
      ).register;
      const signedIn = (
        await gql(on(i + 1), `mutation ($i: LoginInput!) { login(input: $i) { ${TOKENS} } }`, {
          i: { tenant: slug, email, password: PASSWORD },
        })
      ).login;
      const refreshed = (
        await gql(on(i), `mutation ($i: RefreshInput!) { refresh(input: $i) { ${TOKENS} } }`, {
          i: { refreshToken: signedIn.refreshToken },
        })
      ).refresh;
      await gql(
        on(i + 1),
        'mutation ($i: ChangePasswordInput!) { changePassword(input: $i) }',
        { i: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } },
        refreshed.accessToken,
      );
      const loggedOut = (await gql(on(i), 'mutation { logout }', {}, refreshed.accessToken)).logout;
      expect(loggedOut).toBe(true);
      return { userId: registered.user.id as string, registered, signedIn, refreshed };
    });
    // Meanwhile the tenant's ADMIN creates users and promotes each one.
    const adminWrites = Array.from({ length: CREATED_BY_ADMIN }, async (_, i) => {
      const user = (
        await gql(
          on(i),
          'mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }',
          { i: { email: `made${i}@${slug}.test`, password: PASSWORD } },
          tenantAdmin.accessToken,
        )
      ).createUser;
      await gql(
        on(i + 1),
        'mutation ($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }',
        { id: user.id, i: { role: 'MODERATOR', displayName: `Made ${i}` } },
        tenantAdmin.accessToken,
      );
      return user.id as string;
    });
    const [done, made] = await Promise.all([Promise.all(journeys), Promise.all(adminWrites)]);

    // Read back directly, bypassing the pooler.
    for (const journey of done) {
      const [user] =
        await direct`select password_hash from users where tenant_id = ${tenantId} and id = ${journey.userId}`;
      expect(user, 'a signed-up user is missing').toBeDefined();
      const sessions = await direct`
        select id, end_reason, refresh_token_hash from sessions
        where tenant_id = ${tenantId} and user_id = ${journey.userId} order by created_at, id`;
      const byId = new Map(sessions.map((s) => [s.id as string, s]));
      // The password change ended the sign-up session; the sign-out ended the other one.
      expect(byId.get(journey.registered.session.id)?.end_reason).toBe('PASSWORD_CHANGED');
      const refreshedSession = byId.get(journey.signedIn.session.id);
      expect(refreshedSession?.end_reason).toBe('LOGOUT');
      expect(
        Buffer.from(refreshedSession?.refresh_token_hash as Uint8Array).equals(
          sha256(journey.refreshed.refreshToken),
        ),
      ).toBe(true);
      const [spent] = await direct`
        select 1 as found from spent_refresh_tokens
        where tenant_id = ${tenantId} and token_hash = ${sha256(journey.signedIn.refreshToken)}`;
      expect(spent?.found, 'a refresh was answered but its spent token is missing').toBe(1);
      const actions = await direct`
        select action from audit_events where tenant_id = ${tenantId}
        and (target_id = ${journey.userId} or actor_id = ${journey.userId}) order by action`;
      expect(actions.map((row) => row.action)).toEqual(
        expect.arrayContaining(['auth.login.succeeded', 'auth.logout', 'auth.register', 'password.changed']),
      );
    }
    // The new password is in force (the old one no longer signs in), on either instance.
    const signIn = (password: string) =>
      postGraphQL(b.url, 'mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
        i: { tenant: slug, email: `user0@${slug}.test`, password },
      });
    expect((await signIn(NEW_PASSWORD)).body.errors).toBeUndefined();
    expect((await signIn(PASSWORD)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const madeRows = await direct`
      select id, role, display_name from users where tenant_id = ${tenantId} and id = any(${made}::uuid[])`;
    expect(madeRows).toHaveLength(CREATED_BY_ADMIN);
    for (const row of madeRows) expect(row.role).toBe('MODERATOR');
    const [adminAudit] = await direct`
      select count(*) filter (where action = 'user.created')::int as created,
        count(*) filter (where action = 'user.updated')::int as updated
      from audit_events where tenant_id = ${tenantId} and target_id = any(${made}::uuid[])`;
    expect(adminAudit).toEqual({ created: CREATED_BY_ADMIN, updated: CREATED_BY_ADMIN });
  }, 180_000);
});
