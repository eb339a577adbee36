// Writes on the sign-in path: login against raw bcrypt, `me` during a login storm, refresh.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { activeUsers, createRefreshableSessions, dropRefreshableSessions } from '../lib/data.mjs';
import { LOGIN, ME, REFRESH, signIn, statementCount } from '../lib/gql.mjs';
import {
  alternate,
  ceilingRows,
  ceilingVariants,
  hrUs,
  pairedRatio,
  row,
  serviceRun,
  settle,
  summarize,
  target,
  versusCeilings,
} from '../lib/harness.mjs';
import { gqlRequest, rotatingRequest, runLoad } from '../lib/load.mjs';
import { clientIp, verifyRequests } from './common.mjs';

const LOGIN_CONNECTIONS = 10;

/** Raw @node-rs/bcrypt verifies per second at `cost`, in a process of its own. */
function rawBcrypt(ctx, cost, seconds, concurrency) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ctx.benchDir, 'bcrypt-raw.mjs'), String(cost), String(seconds), String(concurrency)],
      {
        cwd: ctx.benchDir,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bcrypt-raw exited ${code}`)),
    );
  });
}

/** Sign-ins spread over the tenant's users (one at a time per user) and over client addresses. */
async function loginRequest(ctx, tenant) {
  const users = await activeUsers(ctx.sql, tenant.id, 100_000);
  return {
    users,
    request: rotatingRequest((i) => ({
      body: JSON.stringify({
        query: LOGIN,
        variables: {
          input: { tenant: tenant.slug, email: users[i % users.length].email, password: ctx.data.password },
        },
      }),
      headers: { 'x-forwarded-for': clientIp(i) },
    })),
  };
}

export const login = {
  name: 'login',
  title: '`login` at BCRYPT_COST 10 and 12, against raw `@node-rs/bcrypt` verify throughput',
  needs: ['login'],
  async run(ctx) {
    const rows = [];
    const targets = [];
    const notes = [];
    // The service runs verifies `availableParallelism()` at a time; raw gets the best of that and twice that.
    const cores = availableParallelism();
    for (const cost of [10, 12]) {
      const tenant = ctx.data[`login${cost}`];
      const service = await ctx.startService(`login-${cost}`, { BCRYPT_COST: String(cost) });
      const { users, request } = await loginRequest(ctx, tenant);
      // Statements per sign-in, one at a time (under load, sign-ins still running at the end blur it).
      const before = await statementCount(service.url);
      await signIn(service.graphql, tenant.slug, users.slice(-3), ctx.data.password, { concurrency: 1 });
      const sqlPerLogin = ((await statementCount(service.url)) - before) / 3;
      // A cost-12 sign-in takes ≈ 4 × longer: twice the time for a comparable number of them.
      const durationSec = ctx.durationSec * (cost === 12 && !ctx.smoke ? 2 : 1);
      // Raw: as many verifies at once as there are cores (what the service's semaphore allows).
      const raw = async (seconds) => {
        const result = await rawBcrypt(ctx, cost, seconds, cores);
        return { rps: result.rate, rate: result.rate };
      };
      const runs = await alternate(
        ctx,
        [
          { key: `raw bcrypt ${cost}`, run: raw },
          {
            key: `login ${cost}`,
            run: (seconds) =>
              serviceRun(service, {
                connections: LOGIN_CONNECTIONS,
                durationSec: seconds,
                requests: [request],
                countGraphqlErrors: true,
                quietMs: ctx.smoke ? 800 : 1_500,
              }),
          },
        ],
        { durationSec },
      );
      const rawSummary = summarize(runs[`raw bcrypt ${cost}`]);
      const measured = summarize(runs[`login ${cost}`]);
      const ratio = pairedRatio(runs[`login ${cost}`], runs[`raw bcrypt ${cost}`]);
      rows.push(row(`raw bcrypt verify, cost ${cost}`, `${cores} at once`, { rps: rawSummary.rps }));
      rows.push(
        row(
          `\`login\`, BCRYPT_COST ${cost}`,
          LOGIN_CONNECTIONS,
          { ...measured, sqlPerOp: sqlPerLogin },
          { refRps: rawSummary.rps, ratio, refLabel: 'raw' },
        ),
      );
      targets.push(
        target(`logins/s at cost ${cost}`, '≥ 0.9 × raw bcrypt', `${ratio.toFixed(2)} ×`, ratio >= 0.9),
      );
      const wider = ctx.smoke ? undefined : await rawBcrypt(ctx, cost, durationSec, cores * 2);
      notes.push(
        `Cost ${cost}: ${wider ? `raw verify with ${cores * 2} at once (the libuv pool's size is 4): ${wider.rate.toFixed(1)}/s vs ${rawSummary.rps.toFixed(1)}/s with ${cores}. ` : ''}${durationSec} s runs; ${users.length} users hashed at cost ${cost}, signed in in turn, each request from its own X-Forwarded-For address; SQL/op counted over 3 sequential sign-ins.`,
      );
      await ctx.stopService(service);
    }
    return { rows, targets, notes };
  },
};

export const storm = {
  name: 'storm',
  title: '`me` p99 during a login storm (10 connections signing in at BCRYPT_COST 12, 10 on `me`)',
  needs: ['small', 'login'],
  async run(ctx) {
    // Tokens for `me` come from a cost-4 instance (the small tenant's hashes are cost 4; signing
    // them in at cost 12 would rehash them); tokens work on every instance of the deployment.
    const helper = await ctx.startService('storm-signin', {}, { profile: false });
    const meUsers = await activeUsers(ctx.sql, ctx.data.small.id, 50);
    const sessions = await signIn(helper.graphql, ctx.data.small.slug, meUsers, ctx.data.password);
    await helper.proc.stop();
    const service = await ctx.startService('storm', { BCRYPT_COST: '12' });
    const meRequests = sessions.map((s) => gqlRequest(ME, undefined, { authorization: `Bearer ${s.token}` }));
    await verifyRequests(service.graphql, meRequests);
    const { request } = await loginRequest(ctx, ctx.data.login12);
    const meLoad = (durationSec) =>
      serviceRun(service, { connections: 10, durationSec, requests: meRequests });
    const stormRuns = [];
    const runs = await alternate(ctx, [
      { key: 'me alone', run: meLoad },
      {
        key: 'me during storm',
        run: async (durationSec, { warmup }) => {
          const start = hrUs();
          const [meResult, storm] = await Promise.all([
            meLoad(durationSec),
            runLoad({
              url: service.graphql,
              connections: 10,
              durationSec,
              requests: [request],
              countGraphqlErrors: true,
            }),
          ]);
          service.windows.push([start, hrUs()]);
          // Sign-ins still queued for bcrypt would otherwise slow the next "alone" run.
          await settle(service, ctx.smoke ? 800 : 1_500);
          if (!warmup) stormRuns.push(storm);
          return meResult;
        },
      },
    ]);
    const alone = summarize(runs['me alone']);
    const during = summarize(runs['me during storm']);
    const stormSummary = summarize(stormRuns);
    const ratio = pairedRatio(runs['me during storm'], runs['me alone'], (r) => r.p99);
    return {
      rows: [
        row('`me` alone', 10, alone),
        row(
          '`me` during the storm',
          10,
          { ...during, sqlPerOp: undefined, cpuMsPerOp: undefined, dbCpuMsPerOp: undefined },
          { refLabel: 'p99 vs alone', ratio },
        ),
        row('`login` storm (cost 12)', 10, stormSummary),
      ],
      targets: [
        target('`me` p99 during the storm', '≤ 3 × `me` p99 alone', `${ratio.toFixed(2)} ×`, ratio <= 3),
      ],
      notes: [
        `\`me\` req/s during the storm: ${Math.round(during.rps)} (alone ${Math.round(alone.rps)}, ${((100 * during.rps) / alone.rps).toFixed(0)} %); logins/s during the storm: ${stormSummary.rps.toFixed(1)}.`,
      ],
    };
  },
};

export const refresh = {
  name: 'refresh',
  title: '`refresh`: every request presents a fresh refresh token',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('refresh');
    // Users away from both ends of the tenant: the oldest make the first `users` page, the newest sign in.
    const users = await activeUsers(ctx.sql, ctx.data.small.id, 500, { oldest: true, offset: 500 });
    // Enough fresh tokens for every request of the warm-up and the measured rounds at ≈ 4,000/s.
    const seconds = ctx.warmupSec + ctx.rounds * ctx.durationSec;
    const { tokens, createdAt } = await createRefreshableSessions(
      ctx.sql,
      ctx.data.small.id,
      users,
      Math.ceil(seconds * 4_000) + 1_000,
    );
    ctx.afterScenario(() => dropRefreshableSessions(ctx.sql, ctx.data.small.id, createdAt));
    let used = 0;
    const request = rotatingRequest((i) => {
      used = i + 1;
      return {
        body: JSON.stringify({
          query: REFRESH,
          variables: { input: { refreshToken: tokens[(i + 1) % tokens.length] } },
        }),
        headers: { 'x-forwarded-for': clientIp(i) },
      };
    });
    await verifyRequests(service.graphql, [gqlRequest(REFRESH, { input: { refreshToken: tokens[0] } })]);
    const runs = await alternate(ctx, [
      ...ceilingVariants(ctx, 10),
      {
        key: 'refresh c10',
        run: (durationSec) =>
          serviceRun(service, {
            connections: 10,
            durationSec,
            requests: [request],
            countGraphqlErrors: true,
          }),
      },
    ]);
    const measured = summarize(runs['refresh c10']);
    const versus = versusCeilings(runs['refresh c10'], runs, 10);
    const { ratio } = versus;
    const notes = [
      `${tokens.length.toLocaleString('en-US')} sessions created for the run (each refreshed once); ${used.toLocaleString('en-US')} used.`,
    ];
    if (used > tokens.length)
      notes.push('**The token pool ran out: later requests were refresh-token reuse (errors).**');
    if (measured.firstError) notes.push(`First error: \`${measured.firstError}\``);
    return {
      rows: [...ceilingRows(runs, 10), row('`refresh`', 10, measured, versus)],
      targets: [
        target('`refresh` req/s', '≥ 0.3 × standalone ceiling', `${ratio.toFixed(2)} ×`, ratio >= 0.3),
      ],
      notes,
    };
  },
};
