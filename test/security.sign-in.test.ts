import { performance } from 'node:perf_hooks';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../src/db/schema.js';
import {
  attemptLogin,
  createTenant,
  registerUser,
  type SignedIn,
  strongPassword,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, startTestServer, type TestServer, useTestServer } from './support/server.js';

/**
 * What a sign-in verified must still hold when it completes. bcrypt takes hundreds of
 * milliseconds at production cost, and a password change (or a hash upgrade) can commit inside
 * that window; these tests make the two really overlap, over HTTP, and check that the sign-in
 * with the old password gets no working session and never writes the old password back.
 */

const CHANGE_PASSWORD = `mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function changePassword(server: TestServer, token: string, currentPassword: string, newPassword: string) {
  return server.gql(CHANGE_PASSWORD, { input: { currentPassword, newPassword } }, { token });
}

/** Sign-ins of this user that verified a password the account no longer had when they completed. */
async function supersededSignIns(server: TestServer, userId: string): Promise<number> {
  const rows = await server.testDatabase.database.db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, 'auth.login.failed'),
        eq(auditEvents.targetId, userId),
        sql`${auditEvents.metadata}->>'reason' = 'changed_during_sign_in'`,
      ),
    );
  return rows.length;
}

describe('a sign-in straddling changePassword', () => {
  let server: TestServer;
  let tenant: string;

  beforeAll(async () => {
    // Production cost: each bcrypt takes long enough for the two requests to overlap for sure.
    server = await startTestServer({ BCRYPT_COST: '12' });
    tenant = (await createTenant(server, { settings: { maxFailedLogins: 1000 } })).slug;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('gets no working session with the old password', async () => {
    const user = await registerUser(server, tenant);
    let current = user.password;
    // How long a password change takes here (a verify and a hash).
    const next = strongPassword();
    const started = performance.now();
    expect((await changePassword(server, user.accessToken, current, next)).data?.changePassword).toBe(true);
    const changeTakes = performance.now() - started;
    current = next;

    // The change commits after about two bcrypt times; a sign-in started in its second half reads
    // the old hash, verifies for one bcrypt time and completes after the commit.
    let straddled = false;
    for (const fraction of [0.7, 0.6, 0.8, 0.65, 0.75, 0.55, 0.85, 0.7]) {
      const old = current;
      const replacement = strongPassword();
      const change = changePassword(server, user.accessToken, old, replacement);
      await sleep(changeTakes * fraction);
      const signIn = await attemptLogin(server, tenant, user.email, old);
      expect((await change).data?.changePassword).toBe(true);
      current = replacement;
      if (!signIn.errors) {
        // It completed before the change: the change ended its session.
        expect(await tokenWorks(server, signIn.data?.login.accessToken as string)).toBe(false);
      } else {
        expect(errorCode(signIn)).toBe('UNAUTHENTICATED');
      }
      if ((await supersededSignIns(server, user.userId)) > 0) {
        straddled = true;
        break;
      }
    }
    // At least one sign-in really verified the old password before the change committed.
    expect(straddled).toBe(true);
    // The old password stays refused; the new one works.
    expect(errorCode(await attemptLogin(server, tenant, user.email, user.password))).toBe('UNAUTHENTICATED');
    expect((await attemptLogin(server, tenant, user.email, current)).errors).toBeUndefined();
  }, 180_000);
});

describe('a sign-in upgrading the hash while the password changes', () => {
  let cheap: TestServer;
  let costly: TestServer;
  let tenant: string;

  beforeAll(async () => {
    // Two instances of one deployment during a BCRYPT_COST raise: accounts made at cost 4 are
    // upgraded to cost 12 at their next sign-in.
    cheap = await startTestServer({ BCRYPT_COST: '4' });
    costly = await startTestServer({ BCRYPT_COST: '12' }, { database: cheap.testDatabase });
    tenant = (await createTenant(cheap, { settings: { maxFailedLogins: 1000 } })).slug;
  });
  afterAll(async () => {
    await costly?.close();
    await cheap?.close();
  });

  it('never writes the old password back', async () => {
    const started = performance.now();
    await costly.app.services.hasher.hash('calibration only');
    const hashTakes = performance.now() - started;

    let straddled = false;
    for (const fraction of [0.4, 0.3, 0.5, 0.2, 0.6, 0.35]) {
      const user: SignedIn = await registerUser(cheap, tenant);
      const newPassword = strongPassword();
      // The change verifies the cost-4 hash at once and then hashes for one cost-12 time; the
      // sign-in started meanwhile verifies at once too and then spends one cost-12 time upgrading.
      const change = changePassword(costly, user.accessToken, user.password, newPassword);
      await sleep(hashTakes * fraction);
      const signIn = await attemptLogin(costly, tenant, user.email, user.password);
      expect((await change).data?.changePassword).toBe(true);
      if (!signIn.errors)
        expect(await tokenWorks(costly, signIn.data?.login.accessToken as string)).toBe(false);

      // Whatever the order, the account's password is the new one, on either instance.
      for (const server of [cheap, costly]) {
        expect(errorCode(await attemptLogin(server, tenant, user.email, user.password))).toBe(
          'UNAUTHENTICATED',
        );
        expect((await attemptLogin(server, tenant, user.email, newPassword)).errors).toBeUndefined();
      }
      if ((await supersededSignIns(costly, user.userId)) > 0) {
        straddled = true;
        break;
      }
    }
    expect(straddled).toBe(true);
  }, 180_000);
});

describe('parallel sign-ins', () => {
  const server = useTestServer({ BCRYPT_COST: '10' });
  let tenant: string;
  let user: SignedIn;

  beforeAll(async () => {
    tenant = (await createTenant(server, { settings: { maxFailedLogins: 100_000 } })).slug;
    user = await registerUser(server, tenant);
  });

  const PARALLEL = 8;
  const ROUNDS = 8;

  /**
   * The answer times of PARALLEL simultaneous wrong-password sign-ins at one email, from the
   * first answer to the last (ms since the burst began).
   */
  async function burst(email: string): Promise<number[]> {
    const started = performance.now();
    const times = await Promise.all(
      Array.from({ length: PARALLEL }, async (_, i) => {
        const answer = await attemptLogin(server, tenant, email, `wrong password ${i}!`);
        expect(errorCode(answer)).toBe('UNAUTHENTICATED');
        return performance.now() - started;
      }),
    );
    return times.sort((a, b) => a - b);
  }

  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] as number;
  };

  it('answer on the same schedule for an email that has no account as for one that has', async () => {
    await burst(user.email);
    await burst(`${unique('warmup')}@example.test`);
    const known: number[][] = [];
    const unknown: number[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, alternating which goes first: noise from the shared machine hits both alike.
      const nobody = `${unique('nobody')}@example.test`;
      if (round % 2 === 0) {
        known.push(await burst(user.email));
        unknown.push(await burst(nobody));
      } else {
        unknown.push(await burst(nobody));
        known.push(await burst(user.email));
      }
    }
    // Two robust statistics, each a median over the rounds. When an existing account's attempts
    // took turns while an unknown email's ran side by side (as many as there are cores), the
    // schedules differed at the end with cores to spare (the existing email's last answer came
    // twice as late) or at the start on a saturated machine (the unknown email's answers came in
    // pairs, so its first came after a quarter of the burst instead of an eighth). The first
    // answer is measured as a share of its own burst, so how busy the machine was in that round
    // cancels out.
    const last = (times: number[]) => times[times.length - 1] as number;
    const firstShare = (times: number[]) => (times[0] as number) / last(times);
    const totals = median(known.map(last)) / median(unknown.map(last));
    const firsts = median(known.map(firstShare)) / median(unknown.map(firstShare));
    console.info(
      `${PARALLEL} parallel failed sign-ins at BCRYPT_COST 10, existing/unknown email: ` +
        `whole burst ${totals.toFixed(2)}, first answer's share of it ${firsts.toFixed(2)}`,
    );
    expect(totals).toBeGreaterThan(1 / 1.5);
    expect(totals).toBeLessThan(1.5);
    expect(firsts).toBeGreaterThan(1 / 1.5);
    expect(firsts).toBeLessThan(1.5);
  }, 180_000);
});
