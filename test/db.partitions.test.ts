import { readFileSync, writeFileSync } from 'node:fs';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeAuditEvents } from '../src/modules/audit/retention.js';
import { cleanUpSessions } from '../src/modules/sessions/session-cleanup.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import type { Actor } from './support/fixtures.js';
import { attemptLogin, attemptRefresh, loginUser, registerUser, type SignedIn } from './support/fixtures.js';
import { completeWithCode, enrolTotp, passwordStep, type TotpUser, totpCode } from './support/mfa.js';
import { basicAuth, makeServiceAccount, postForm, type ServiceAccountHandle } from './support/oauth.js';
import { PARTITIONS, partitionByTenant, partitionsTouched } from './support/partitioned.js';
import { SYSTEM_ADMIN, startTestServer, type TestServer } from './support/server.js';
import { TestSmtpServer, tokenOf } from './support/smtp.js';

/**
 * The schema as Citus would distribute it, without Citus: every tenant-owned table rebuilt as
 * `PARTITION BY HASH (tenant_id)` with the migrations' own keys and foreign keys applied to it
 * (PostgreSQL refuses any that lack tenant_id), then the service run on it. Each step below is one
 * thing a user or an operator does; every statement it sends is planned against the partitions,
 * and the partitions it reaches are counted (`npm run db:citus-check` prints the list).
 *
 * test/citus-check.expected.json is the committed expectation, per step: 1 for every per-tenant
 * path (one shard on Citus), or "all" where a look-up is deliberately across tenants.
 * CITUS_CHECK_UPDATE=1 rewrites it from this run (review the diff).
 */

const EXPECTED_FILE = new URL('./citus-check.expected.json', import.meta.url);
/** Background jobs sweep every tenant; their statements are counted in their own steps only. */
const BACKGROUND =
  /pg_try_advisory_xact_lock|coalesce\(ended_at, expires_at\)|"audit_events"\."created_at" <|for update skip locked|"email_outbox"\."claimed_until" <=|coalesce\("email_outbox"\."sent_at"/;

interface Captured {
  query: string;
  params: unknown[];
}

let testDatabase: TestDatabase;
let smtp: TestSmtpServer;
let server: TestServer;
let direct: postgres.Sql;
let owned: string[];
let recording: Captured[] | undefined;
/** Background statements are left out of the other steps; in a background step they are the step. */
let background = false;
const report: {
  step: string;
  partitions: number;
  statements: { sql: string; perTable: Record<string, number> }[];
}[] = [];

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  direct = postgres(testDatabase.url, { max: 2, onnotice: () => {}, prepare: false });
  owned = await partitionByTenant(direct);
  smtp = await new TestSmtpServer().start();
  server = await startTestServer({ SMTP_URL: smtp.url }, { database: testDatabase });
  // Every statement the service sends passes the database's statement logger.
  const logger = testDatabase.database.statements;
  const count = logger.logQuery.bind(logger);
  logger.logQuery = (query: string, params: unknown[]) => {
    count(query, params);
    if (recording && (background || !BACKGROUND.test(query))) recording.push({ query, params });
  };
}, 120_000);

afterAll(async () => {
  await server?.close();
  await smtp?.stop();
  await direct?.end({ timeout: 5 });
  await testDatabase?.drop();
});

/** Runs `work` as one step and records the partitions each of its statements reaches. */
async function step(name: string, work: () => Promise<unknown>, sweep = false): Promise<void> {
  recording = [];
  background = sweep;
  try {
    await work();
  } finally {
    const captured = recording;
    recording = undefined;
    background = false;
    const statements = [];
    for (const { query, params } of captured) {
      const touch = await partitionsTouched(direct, owned, query, params);
      if (Object.keys(touch.perTable).length > 0) {
        statements.push({ sql: query.replace(/\s+/g, ' ').slice(0, 160), perTable: touch.perTable });
      }
    }
    const partitions = Math.max(0, ...statements.flatMap((s) => Object.values(s.perTable)));
    report.push({ step: name, partitions, statements });
  }
}

async function ok(response: Promise<{ errors?: unknown; data?: unknown }>) {
  const answer = await response;
  if (answer.errors) throw new Error(JSON.stringify(answer.errors));
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
  return answer.data as any;
}

describe('the schema hash-partitioned by tenant_id', () => {
  it('takes the migrations keys and foreign keys, and runs every path of the service', async () => {
    expect(owned).toEqual(
      expect.arrayContaining(['audit_events', 'sessions', 'spent_refresh_tokens', 'users']),
    );
    const systemAdmin = await loginUser(server, { tenant: 'system', ...SYSTEM_ADMIN });
    const as =
      (who: SignedIn) =>
      (query: string, variables: Record<string, unknown> = {}) =>
        ok(server.gql(query, variables, { token: who.accessToken }));
    // Three tenants, so that a statement without a tenant reaches several partitions.
    const slugs = ['alpha-part', 'beta-part', 'gamma-part'];
    const createTenant = (slug: string) =>
      as(systemAdmin)('mutation ($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }', {
        i: {
          name: slug,
          slug,
          adminEmail: `admin@${slug}.test`,
          adminPassword: 'Shard keeper passphrase 1!',
        },
      });
    await step('create a tenant with its ADMIN (system ADMIN)', () => createTenant('alpha-part'));
    for (const slug of slugs.slice(1)) await createTenant(slug);
    const admin = await loginUser(server, {
      tenant: 'alpha-part',
      email: 'admin@alpha-part.test',
      password: 'Shard keeper passphrase 1!',
    });
    for (const slug of slugs.slice(1)) await registerUser(server, slug);

    let user!: SignedIn;
    await step('sign up', async () => {
      user = await registerUser(server, 'alpha-part');
    });
    let second!: SignedIn;
    await step('sign in', async () => {
      second = await loginUser(server, user);
    });
    await step('sign in with a wrong password', () =>
      attemptLogin(server, 'alpha-part', user.email, 'Not the password 1!'),
    );
    await step('first request of a new session (session check, cache cold)', () =>
      as(second)('{ me { id email } }'),
    );
    let refreshed!: string;
    await step('refresh', async () => {
      refreshed = (await ok(attemptRefresh(server, second.refreshToken))).refresh.refreshToken;
    });
    await step('refresh again with the same token within the grace (second tab)', () =>
      ok(attemptRefresh(server, second.refreshToken)),
    );
    await step('my sessions', () => as(user)('{ mySessions { id current } }'));
    // A user nobody has asked for yet, so the look-up is not answered from the cache.
    const unseen = await registerUser(server, 'alpha-part');
    await step('user by id (tenant ADMIN)', () =>
      as(admin)('query ($id: ID!) { user(id: $id) { id email } }', { id: unseen.userId }),
    );
    await step('users page (tenant ADMIN)', () =>
      as(admin)('{ users(first: 10) { totalCount nodes { id email sessions { id } } } }'),
    );
    await step('user search (tenant ADMIN)', () =>
      as(admin)('{ users(first: 10, filter: { search: "user" }) { nodes { id } } }'),
    );
    await step('update a user (tenant ADMIN)', () =>
      as(admin)('mutation ($id: ID!) { updateUser(id: $id, input: { displayName: "Renamed" }) { id } }', {
        id: user.userId,
      }),
    );
    await step('audit events (tenant ADMIN)', () =>
      as(admin)('{ auditEvents(first: 20) { totalCount nodes { id action } } }'),
    );
    await step('tenant stats (tenant ADMIN)', () =>
      as(admin)('{ tenant { stats { totalUsers activeSessions loginsLast24h failedLoginsLast24h } } }'),
    );
    const third = await loginUser(server, user);
    await step('revoke a session (tenant ADMIN)', () =>
      as(admin)('mutation ($id: ID!) { revokeSession(id: $id) }', { id: third.sessionId }),
    );
    await step('change password', () =>
      as(user)('mutation ($i: ChangePasswordInput!) { changePassword(input: $i) }', {
        i: { currentPassword: user.password, newPassword: 'Partition new passphrase 2!' },
      }),
    );
    server.clock.advance(11_000);
    await step('refresh token reuse after the grace (ends the session)', () =>
      attemptRefresh(server, second.refreshToken),
    );
    expect(refreshed).toBeTruthy();
    const last = await loginUser(server, { ...user, password: 'Partition new passphrase 2!' });
    await step('sign out', () => as(last)('mutation { logout }'));

    // The second wave's paths: service callers, the second factor, emailed links.
    const adminActor = { token: admin.accessToken };
    let account!: ServiceAccountHandle;
    await step('create a service account (tenant ADMIN)', async () => {
      account = await makeServiceAccount(server, adminActor as Actor, ['users:read', 'tokens:introspect']);
    });
    let serviceToken!: string;
    await step('client credentials grant (POST /oauth/token)', async () => {
      const grant = await postForm(
        server,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(account.clientId, account.clientSecret) },
      );
      expect(grant.status).toBe(200);
      serviceToken = grant.body?.access_token as string;
    });
    await step('first request of a service (token check, cache cold)', () =>
      ok(server.gql('{ users(first: 5) { nodes { id } } }', {}, { token: serviceToken })),
    );
    let apiKey!: string;
    await step('create an API key (tenant ADMIN)', async () => {
      const created = await as(admin)(
        'mutation ($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id } } }',
        { i: { serviceAccountId: account.id, name: 'partition check' } },
      );
      apiKey = created.createApiKey.key;
    });
    await step('introspect an API key not used yet (POST /oauth/introspect)', async () => {
      const answer = await postForm(
        server,
        '/oauth/introspect',
        { token: apiKey },
        { authorization: basicAuth(account.clientId, account.clientSecret) },
      );
      expect(answer.body?.active).toBe(true);
    });
    await step('first request by an API key', () =>
      ok(server.gql('{ users(first: 5) { nodes { id } } }', {}, { token: apiKey })),
    );
    let totpUser!: TotpUser;
    const mfaCandidate = await registerUser(server, 'alpha-part');
    await step('turn on TOTP (start and confirm)', async () => {
      totpUser = await enrolTotp(server, mfaCandidate);
    });
    await step('sign in with a second factor (password, then TOTP)', async () => {
      const { mfaToken } = await passwordStep(server, totpUser);
      const done = await completeWithCode(
        server,
        mfaToken,
        'TOTP',
        totpCode(totpUser.secret, server.clock.now()),
      );
      expect(done.data?.completeMfaLogin.accessToken).toBeTruthy();
    });
    // The public answer comes before the email is queued (same time whether or not the account
    // exists), so the step lasts until the email has arrived.
    let resetLink: string | undefined;
    await step('request a password reset (public), until the email is sent', async () => {
      await ok(
        server.gql('mutation ($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) }', {
          i: { tenant: 'alpha-part', email: unseen.email },
        }),
      );
      resetLink = (await smtp.waitFor(unseen.email))[0]?.link;
    });
    await step('reset the password from the emailed link', () =>
      ok(
        server.gql('mutation ($i: ResetPasswordInput!) { resetPassword(input: $i) }', {
          i: { token: tokenOf(resetLink), newPassword: 'Partition reset passphrase 3!' },
        }),
      ),
    );
    const invitee = 'invitee@alpha-part.test';
    await step('invite a user (tenant ADMIN)', () =>
      as(admin)('mutation ($i: InviteUserInput!) { inviteUser(input: $i) { id } }', {
        i: { email: invitee, role: 'USER' },
      }),
    );
    const [invitation] = await smtp.waitFor(invitee);
    await step('accept an invitation from the emailed link', () =>
      ok(
        server.gql('mutation ($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { accessToken } }', {
          i: { token: tokenOf(invitation?.link), password: 'Partition invited passphrase 4!' },
        }),
      ),
    );

    // Across tenants, by design: a system ADMIN names a user or session by id alone, and the
    // platform pages and background jobs sweep every tenant.
    const fourth = await loginUser(server, { ...user, password: 'Partition new passphrase 2!' });
    await step('user by id (system ADMIN, any tenant)', () =>
      as(systemAdmin)('query ($id: ID!) { user(id: $id) { id } }', { id: user.userId }),
    );
    await step('revoke a session by id (system ADMIN, any tenant)', () =>
      as(systemAdmin)('mutation ($id: ID!) { revokeSession(id: $id) }', { id: fourth.sessionId }),
    );
    await step('tenants page with stats (system ADMIN)', () =>
      as(systemAdmin)('{ tenants(first: 10) { nodes { id stats { totalUsers activeSessions } } } }'),
    );
    const { db } = testDatabase.database;
    await step('session cleanup (background)', () => cleanUpSessions(db, server.clock.now(), 7), true);
    await step('audit retention purge (background)', () => purgeAuditEvents(db, new Date(0)), true);

    // The listing, and the comparison with the committed expectation.
    const listing = report.map((r) => ({
      step: r.step,
      expected: r.partitions <= 1 ? 1 : 'all',
      partitions: r.partitions,
    }));
    if (process.env.CITUS_CHECK_PRINT === '1') {
      console.log(
        `\nPartitions reached per step (${PARTITIONS} hash partitions by tenant_id; 1 = one shard):`,
      );
      for (const r of report) {
        console.log(`  ${String(r.partitions).padStart(2)}  ${r.step}`);
        for (const s of r.statements) {
          console.log(`        ${JSON.stringify(s.perTable)}  ${s.sql.slice(0, 110)}`);
        }
      }
    }
    if (process.env.CITUS_CHECK_UPDATE === '1') {
      const expectation = Object.fromEntries(listing.map((l) => [l.step, l.expected]));
      writeFileSync(EXPECTED_FILE, `${JSON.stringify(expectation, null, 2)}\n`);
    }
    const expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8')) as Record<string, 1 | 'all'>;
    const mismatches = report.flatMap((r) => {
      const want = expected[r.step];
      if (want === undefined) return [`${r.step}: not in citus-check.expected.json`];
      if (want === 1 && r.partitions !== 1)
        return [`${r.step}: reaches ${r.partitions} partitions, expected 1: ${JSON.stringify(r.statements)}`];
      return [];
    });
    expect(mismatches).toEqual([]);
    // Every per-tenant step really did reach a tenant-owned table (the count is not vacuous).
    for (const r of report.filter((x) => expected[x.step] === 1))
      expect(r.statements.length, r.step).toBeGreaterThan(0);
  }, 240_000);
});
