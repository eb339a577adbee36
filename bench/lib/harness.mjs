// What every scenario uses: starting the service, measured runs against it and against the
// ceiling, A/B alternation, and the medians that go into the tables.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_METRICS_TOKEN, statementCount } from './gql.mjs';
import { median, runLoad } from './load.mjs';
import { CEILINGS, cpuMsBetween, cpuMsByName, cpuMsOf, freePort, startProcess, waitForOk } from './procs.mjs';
import { summarizeProfile } from './profile.mjs';

export const hrUs = () => Number(process.hrtime.bigint() / 1000n);
export const BOOTSTRAP_ADMIN = { email: 'root@system.example', password: 'bench system admin password 1' };

/** The environment every service process gets; scenarios override single variables. */
export function serviceEnv(ctx, port, overrides = {}) {
  return {
    PATH: process.env.PATH,
    NODE_ENV: ctx.nodeEnv,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: ctx.databaseUrl,
    REDIS_URL: ctx.redisUrl,
    REDIS_KEY_PREFIX: ctx.redisPrefix,
    // The bulk of the seeded users have a cost-4 hash, so that signing in for tokens is quick;
    // the login scenarios start the service at cost 10 and 12 over users hashed at that cost.
    BCRYPT_COST: '4',
    // Benchmarks sign in and refresh far faster than the production budget allows (100,000 is the
    // most the configuration accepts); auth scenarios also spread requests over many client IPs.
    RATE_LIMIT_AUTH_PER_MINUTE: '100000',
    TRUST_PROXY: 'loopback',
    LOG_LEVEL: ctx.logLevel,
    GRAPHIQL: 'false',
    // Instances of one deployment share their public address, the tokens' issuer (the default,
    // http://localhost:$PORT, differs per instance and would refuse the others' tokens).
    PUBLIC_URL: 'http://identity.bench.invalid',
    // Production closes /metrics to callers without the token; the harness reads statement counts.
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
    // The fan-out scenario asks the schema whether it has Subscription.sessionEnded yet.
    GRAPHQL_INTROSPECTION: 'true',
    BOOTSTRAP_ADMIN_EMAIL: BOOTSTRAP_ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_ADMIN.password,
    // e.g. BENCH_NODE_OPTIONS=--max-semi-space-size=8 to see what V8 heap settings do to RSS.
    ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
    // Any other variables for the service, e.g. BENCH_SERVICE_ENV='MALLOC_ARENA_MAX=2 LOG_LEVEL=warn'.
    ...Object.fromEntries(
      (process.env.BENCH_SERVICE_ENV ?? '')
        .split(/\s+/)
        .filter((pair) => pair.includes('='))
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    ),
    ...(ctx.extraEnv ?? {}),
    ...overrides,
  };
}

/**
 * Starts `node dist/bundle/main.js` and waits for /ready. With profiling on (BENCH_CPU_PROF=1) the
 * process writes a CPU profile when it stops; `stop()` then summarizes the measured windows.
 */
export async function startService(ctx, name, overrides = {}, { profile = ctx.profile } = {}) {
  const port = await freePort();
  const profileDir = join(ctx.outDir, 'profiles');
  if (profile && !existsSync(profileDir)) mkdirSync(profileDir, { recursive: true });
  const profileName = `${name}.cpuprofile`;
  const proc = startProcess({
    name,
    args: [join(ctx.root, 'dist/bundle/main.js')],
    cwd: ctx.root,
    env: serviceEnv(ctx, port, overrides),
    logFile: join(ctx.outDir, `${name}.log`),
    nodeFlags: [
      ...(process.env.BENCH_V8_FLAGS ?? '').split(/\s+/).filter(Boolean),
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}`] : []),
    ],
  });
  const url = `http://127.0.0.1:${port}`;
  const readyMs = await waitForOk(proc, `${url}/ready`);
  const windows = [];
  return {
    name,
    proc,
    url,
    graphql: `${url}/graphql`,
    readyMs,
    idleRss: proc.rss(),
    windows,
    async stop() {
      const exit = await proc.stop();
      if (!profile) return { exit };
      const file = join(profileDir, profileName);
      if (!existsSync(file)) return { exit, profileError: `no profile written at ${file}` };
      try {
        return { exit, profile: summarizeProfile(file, windows) };
      } catch (error) {
        return { exit, profileError: error.message };
      }
    },
  };
}

/**
 * Waits until the service has finished what the last run left in flight (autocannon stops
 * sending, the service keeps working): its statement count stays put for `quietMs`.
 */
export async function settle(service, quietMs = 300, maxMs = 20_000) {
  const deadline = performance.now() + maxMs;
  let last = await statementCount(service.url);
  let since = performance.now();
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await statementCount(service.url);
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) return;
  }
}

/**
 * One measured load run against a service: adds SQL statements per operation (all statements
 * of the requests sent, once they have finished) and peak RSS. `quietMs`: see settle.
 */
export async function serviceRun(service, { quietMs = 300, ...load }) {
  service.proc.resetPeak();
  const before = await statementCount(service.url);
  const cpuBefore = cpuMsOf(service.proc.pid);
  const dbBefore = cpuMsByName(DATABASE_PROCESSES);
  const start = hrUs();
  const result = await runLoad({ url: service.graphql, ...load });
  service.windows.push([start, hrUs()]);
  const rssPeak = service.proc.peak();
  await settle(service, quietMs);
  const after = await statementCount(service.url);
  const perOp = (ms) => (result.sent > 0 ? ms / result.sent : undefined);
  return {
    ...result,
    rssPeak,
    cpuMsPerOp: perOp(cpuMsOf(service.proc.pid) - cpuBefore),
    dbCpuMsPerOp: perOp(cpuMsBetween(dbBefore, cpuMsByName(DATABASE_PROCESSES))),
    sqlPerOp:
      before !== undefined && after !== undefined && result.sent > 0
        ? (after - before) / result.sent
        : undefined,
  };
}

/** Local PostgreSQL and Redis processes, whose CPU time per operation the tables show. */
const DATABASE_PROCESSES = ['postgres', 'redis-server'];

/** The same load shape against a ceiling's `{ hello }` (the tracked one unless `kind` says). */

export async function ceilingRun(ctx, { connections, durationSec }, kind = CEILINGS[0]) {
  const ceiling = ctx.ceilings[kind];
  ceiling.proc.resetPeak();
  const cpuBefore = cpuMsOf(ceiling.proc.pid);
  const result = await runLoad({
    url: ceiling.graphql,
    connections,
    durationSec,
    requests: [{ method: 'POST', path: '/graphql', body: '{"query":"{ hello }"}' }],
  });
  return {
    ...result,
    rssPeak: ceiling.proc.peak(),
    cpuMsPerOp: result.sent > 0 ? (cpuMsOf(ceiling.proc.pid) - cpuBefore) / result.sent : undefined,
  };
}

/** The key of a ceiling's runs: `ceiling cN` for the tracked (standalone) one, `express cN`. */
export function ceilingKey(connections, kind = CEILINGS[0]) {
  return kind === CEILINGS[0] ? `ceiling c${connections}` : `${kind} c${connections}`;
}

/** Both ceilings as variants of one alternation, at `connections`. */
export function ceilingVariants(ctx, connections) {
  return CEILINGS.map((kind) => ({
    key: ceilingKey(connections, kind),
    run: (durationSec) => ceilingRun(ctx, { connections, durationSec }, kind),
  }));
}

const CEILING_LABELS = {
  standalone: 'ceiling `{ hello }` (Apollo standalone)',
  express: 'ceiling `{ hello }` (Apollo on express 5)',
};

/** A table row for each ceiling's runs. */
export function ceilingRows(runs, connections) {
  return CEILINGS.map((kind) =>
    row(CEILING_LABELS[kind], connections, summarize(runs[ceilingKey(connections, kind)])),
  );
}

/**
 * A service's paired ratios to both ceilings: `ratio` to the tracked (standalone) one, which the
 * targets are set against, and `expressRatio`; plus the tracked ceiling's req/s for the table.
 */
export function versusCeilings(serviceRuns, runs, connections) {
  const tracked = runs[ceilingKey(connections)];
  return {
    ceilingRps: summarize(tracked).rps,
    ratio: pairedRatio(serviceRuns, tracked),
    expressRatio: pairedRatio(serviceRuns, runs[ceilingKey(connections, CEILINGS[1])]),
  };
}

/**
 * A B A B: every variant once for warm-up (not recorded), then `rounds` rounds running each
 * variant in turn, so that a noisy neighbour hurts every variant alike. Returns runs per key.
 */
export async function alternate(ctx, variants, { rounds = ctx.rounds, durationSec = ctx.durationSec } = {}) {
  for (const variant of variants) await variant.run(ctx.warmupSec, { warmup: true });
  const runs = Object.fromEntries(variants.map((variant) => [variant.key, []]));
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const result = await variant.run(durationSec, { warmup: false, round });
      runs[variant.key].push(result);
      ctx.log(`    ${variant.key.padEnd(22)} round ${round + 1}: ${fmtRun(result)}`);
    }
  }
  return runs;
}

function fmtRun(r) {
  const parts = [];
  if (r.rps !== undefined) parts.push(`${Math.round(r.rps)} req/s`);
  if (r.p50 !== undefined) parts.push(`p50 ${r.p50} ms`, `p99 ${r.p99} ms`);
  if (r.errors) parts.push(`${r.errors} errors`);
  if (r.sqlPerOp !== undefined) parts.push(`${r.sqlPerOp.toFixed(2)} SQL/op`);
  if (r.rate !== undefined) parts.push(`${r.rate.toFixed(1)}/s`);
  return parts.join(', ');
}

/** Medians over rounds (errors summed, RSS the highest seen). */
export function summarize(runs) {
  return {
    rounds: runs.length,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((sum, r) => sum + (r.errors ?? 0), 0),
    requests: runs.reduce((sum, r) => sum + (r.requests ?? 0), 0),
    sqlPerOp: median(runs.map((r) => r.sqlPerOp)),
    cpuMsPerOp: median(runs.map((r) => r.cpuMsPerOp)),
    dbCpuMsPerOp: median(runs.map((r) => r.dbCpuMsPerOp)),
    rssPeak: Math.max(0, ...runs.map((r) => r.rssPeak ?? 0)),
    firstError: runs.map((r) => r.detail?.firstError).find(Boolean),
  };
}

/** Median of per-round ratios a[i] / b[i] (each pair measured side by side in time). */
export function pairedRatio(a, b, pick = (r) => r.rps) {
  return median(a.map((run, i) => (b[i] ? pick(run) / pick(b[i]) : undefined)));
}

/** A row of a scenario table. */
export function row(label, connections, summary, extra = {}) {
  return { label, connections, ...summary, ...extra };
}

export function target(what, goal, measured, met, note) {
  return { what, goal, measured, met, note };
}
