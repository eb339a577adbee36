// `npm run bench [-- <scenario…>] [--smoke]`: measures the service's hot paths against a bare
// Apollo Server ceiling on this machine. See docs/benchmarks.md for what each scenario does.
//
//   --smoke              every scenario for a couple of seconds on small data (CI: checks the
//                        harness works; exits 0 whether targets are met or not)
//   --rounds n --duration s --warmup s    A/B rounds and seconds per run (default 3 × 10 s, 3 s;
//                        smoke 1 × 1.2 s, 0.3 s)
//   --small n --large n  users in the two tenants (default 10,000 and 1,000,000; smoke 2,000 and 20,000)
//   --profile            CPU-profile the service in every scenario (same as BENCH_CPU_PROF=1)
//   --root dir           the checkout to build and run (default: this one)
//   --db name            use (and keep) this database; seeded only where its tenants are missing
//   --keep-db            do not drop the database at the end
//   --list               print the scenarios
//
// Environment: BENCH_DATABASE_URL (a maintenance database to create the benchmark's own from;
// else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS_URL (else
// TEST_REDIS_URL, else redis://127.0.0.1:6379/0), BENCH_CPU_PROF=1, BENCH_LOG_LEVEL (the service's
// LOG_LEVEL, default info), BENCH_NODE_ENV (the service's and the ceiling's NODE_ENV, default
// production, as deployed), BENCH_NODE_OPTIONS (the service's NODE_OPTIONS), BENCH_V8_FLAGS (V8
// flags for the service's command line, which NODE_OPTIONS refuses, e.g. --max-semi-space-size=8),
// BENCH_SERVICE_ENV ('NAME=value …' added to the service's environment).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  cleanRedis,
  connectSql,
  createDatabase,
  databaseExists,
  databaseUrl,
  dropDatabase,
  pingRedis,
  runMigrate,
  runSeed,
} from './lib/data.mjs';
import { statementCount } from './lib/gql.mjs';
import { startService } from './lib/harness.mjs';
import { CEILINGS, startCeiling, stopAll } from './lib/procs.mjs';
import { profileMarkdown } from './lib/profile.mjs';
import { scenarioMarkdown, summaryMarkdown } from './lib/report.mjs';
import { login, refresh, storm } from './scenarios/auth.mjs';
import { coldStart } from './scenarios/cold-start.mjs';
import { fanout } from './scenarios/fanout.mjs';
import { me, rss, token } from './scenarios/me.mjs';
import { apiKey, clientCredentials, introspect } from './scenarios/services.mjs';
import { deepPage, search, userById, usersPage } from './scenarios/users.mjs';

const SCENARIOS = [
  me,
  token,
  login,
  storm,
  refresh,
  usersPage,
  search,
  userById,
  deepPage,
  fanout,
  clientCredentials,
  introspect,
  apiKey,
  rss,
  coldStart,
];
const SEED_PASSWORD = 'seeded password 2024!';

const benchDir = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    small: { type: 'string' },
    large: { type: 'string' },
    profile: { type: 'boolean', default: process.env.BENCH_CPU_PROF === '1' },
    root: { type: 'string', default: process.env.BENCH_ROOT ?? join(benchDir, '..') },
    db: { type: 'string' },
    'keep-db': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  // The usage is this file's opening comment.
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const header = source.slice(0, source.indexOf('\nimport ')).split('\n');
  console.log(header.map((line) => line.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
if (values.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(12)} ${s.title}`);
  process.exit(0);
}
const unknown = positionals.filter((name) => !SCENARIOS.some((s) => s.name === name));
if (unknown.length) {
  console.error(`Unknown scenario ${unknown.join(', ')}; one of: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const selected = positionals.length ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS;
const smoke = values.smoke;
const num = (value, fallback) => (value === undefined ? fallback : Number(value.replace(/[_,]/g, '')));
const runId = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\..*/, '')
  .replace('T', '_')
  .toLowerCase();
const root = resolve(values.root);
// CI exports TEST_DATABASE_URL / TEST_REDIS_URL (a role that may create databases): used when BENCH_* are unset.
const adminUrl =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = values.db ?? `identity_bench_${runId}_${process.pid}`;
const outDir = join(benchDir, 'results', runId);
mkdirSync(outDir, { recursive: true });

const log = (line = '') => process.stdout.write(`${line}\n`);
const ctx = {
  root,
  benchDir,
  outDir,
  smoke,
  rounds: num(values.rounds, smoke ? 1 : 3),
  durationSec: num(values.duration, smoke ? 1.2 : 10),
  warmupSec: num(values.warmup, smoke ? 0.3 : 3),
  profile: values.profile,
  adminUrl,
  dbName,
  databaseUrl: databaseUrl(adminUrl, dbName),
  redisUrl: process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  redisPrefix: `bench:${runId}:${process.pid}:`,
  // As deployed: graphql-js, express and Apollo skip development-only checks in production.
  nodeEnv: process.env.BENCH_NODE_ENV ?? 'production',
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
  log,
  statements: (service) => statementCount(service.url),
};
const sizes = {
  small: num(values.small, smoke ? 2_000 : 10_000),
  large: num(values.large, smoke ? 20_000 : 1_000_000),
  login: smoke ? 50 : 200,
};

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const git = (...args) => {
    try {
      return execFileSync('git', ['-C', root, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return undefined;
    }
  };
  const dirty = git('status', '--porcelain');
  return {
    cores: availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    memoryGiB: (totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    loadavg: loadavg()
      .map((n) => n.toFixed(2))
      .join(' '),
    commit: git('rev-parse', '--short', 'HEAD') ?? 'not a git checkout',
    dirtyFiles: dirty === undefined ? undefined : dirty.split('\n').filter(Boolean).length,
  };
}

let cleanedUp = false;
async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  await stopAll();
  await ctx.sql?.end({ timeout: 5 }).catch(() => {});
  if (!values.db && !values['keep-db']) {
    await dropDatabase(adminUrl, dbName).catch((error) => log(`could not drop ${dbName}: ${error.message}`));
  } else log(`Kept database ${dbName}.`);
  await cleanRedis(ctx.redisUrl, ctx.redisPrefix).catch(() => {});
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`\n${signal}: stopping`);
    cleanup().finally(() => process.exit(130));
  });
}

/** The tenants the selected scenarios need, seeded with the project's own seed command. */
async function prepareData() {
  const needs = new Set(selected.flatMap((s) => s.needs));
  const data = { password: SEED_PASSWORD };
  const plans = [
    ['small', 'small', sizes.small, []],
    ['large', 'large', sizes.large, []],
    ['login', 'login10', sizes.login, ['--bcrypt-cost', '10', '--sessions', '0']],
    ['login', 'login12', sizes.login, ['--bcrypt-cost', '12', '--sessions', '0']],
  ];
  for (const [need, prefix, size, extra] of plans) {
    if (!needs.has(need)) continue;
    const slug = `${prefix}-1`;
    const [existing] =
      await ctx.sql`select t.id, t.slug, (select count(*)::int from users u where u.tenant_id = t.id) as users
      from tenants t where t.slug = ${slug}`;
    if (existing) {
      data[prefix] = { ...existing, admin: `admin@${slug}.example`, moderator: `moderator@${slug}.example` };
      log(`  reusing tenant ${slug} (${existing.users.toLocaleString('en-US')} users)`);
      continue;
    }
    const cost = extra.includes('--bcrypt-cost') ? [] : ['--bcrypt-cost', '4'];
    const summary = await runSeed(ctx, [
      '--sizes',
      String(size),
      '--prefix',
      prefix,
      '--password',
      SEED_PASSWORD,
      ...cost,
      ...extra,
    ]);
    data[prefix] = summary.tenants[0];
    log(`  ${summary.message}`);
  }
  return data;
}

async function main() {
  const info = machine();
  log(`# identity-api benchmarks${smoke ? ' (smoke)' : ''} — ${new Date().toISOString()}`);
  log(
    `${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB, Node ${info.node}, load ${info.loadavg}; ${root} at ${info.commit}${info.dirtyFiles ? ` + ${info.dirtyFiles} changed files` : ''}`,
  );
  log(`Rounds ${ctx.rounds} × ${ctx.durationSec} s (warm-up ${ctx.warmupSec} s); results in ${outDir}`);

  const { buildIfNeeded } = await import(pathToFileURL(join(root, 'scripts/build-if-needed.mjs')).href);
  await buildIfNeeded(root);
  for (const file of ['dist/bundle/main.js', 'dist/scripts/seed.js']) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing after the build`);
  }
  try {
    const probe = connectSql(adminUrl);
    await probe`select 1`.finally(() => probe.end({ timeout: 2 }));
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${adminUrl} (${error.message}): start it or set BENCH_DATABASE_URL.`,
    );
  }
  await pingRedis(ctx.redisUrl).catch((error) => {
    throw new Error(
      `Redis is not reachable at ${ctx.redisUrl} (${error.message}): start it or set BENCH_REDIS_URL.`,
    );
  });

  const seedStarted = performance.now();
  if (!(await databaseExists(adminUrl, dbName))) await createDatabase(adminUrl, dbName);
  ctx.sql = connectSql(ctx.databaseUrl);
  log(`Database ${dbName}:`);
  await runMigrate(ctx);
  ctx.data = await prepareData();
  log(`  data ready in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

  ctx.ceilings = {};
  for (const kind of CEILINGS) {
    ctx.ceilings[kind] = await startCeiling(ctx, kind);
    log(`Ceiling ${kind} (bare Apollo Server 5) ready in ${Math.round(ctx.ceilings[kind].readyMs)} ms.`);
  }

  const entries = [];
  for (const scenario of selected) {
    log(`\n## ${scenario.name}: ${scenario.title}`);
    const started = performance.now();
    const services = [];
    const profiles = {};
    ctx.startService = async (name, env, options) => {
      const service = await startService(ctx, name, env, options);
      services.push(service);
      return service;
    };
    const afterwards = [];
    ctx.afterScenario = (work) => afterwards.push(work);
    ctx.addProfile = (name, summary) => {
      profiles[name] = summary;
    };
    ctx.stopService = async (service) => {
      const stopped = await service.stop();
      if (stopped.profile) profiles[service.name] = stopped.profile;
      if (stopped.profileError) log(`  profile of ${service.name}: ${stopped.profileError}`);
    };
    let result;
    const load = loadavg()[0];
    try {
      result = await scenario.run(ctx);
    } catch (error) {
      result = { error: error.message };
      log(`  ERROR: ${error.stack ?? error.message}`);
    } finally {
      for (const service of services) if (!service.proc.exited) await ctx.stopService(service);
      // Leave the data as the next scenario expects it.
      for (const work of afterwards)
        await work().catch((error) => log(`  clean-up failed: ${error.message}`));
    }
    result.seconds = (performance.now() - started) / 1000;
    result.loadavg = [load, loadavg()[0]];
    result.profiles = profiles;
    entries.push({ scenario, result });
    log('');
    log(scenarioMarkdown(scenario, result));
    for (const [name, summary] of Object.entries(profiles)) {
      const text = `#### CPU profile of \`${name}\`\n\n${profileMarkdown(summary, 12)}\n`;
      writeFileSync(join(outDir, `profile-${name}.md`), text);
      log(text);
    }
    log(
      `  (${result.seconds.toFixed(1)} s; 1-minute load average ${result.loadavg.map((n) => n.toFixed(2)).join(' → ')})`,
    );
  }

  const header = [
    `# Benchmarks${smoke ? ' (smoke)' : ''} — ${new Date().toISOString()}`,
    '',
    `${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB RAM, Node ${info.node}; commit ${info.commit}${info.dirtyFiles ? ` + ${info.dirtyFiles} changed files` : ''}.`,
    `Medians of ${ctx.rounds} A/B round(s) of ${ctx.durationSec} s after a ${ctx.warmupSec} s warm-up; tenants of ${sizes.small.toLocaleString('en-US')} and ${sizes.large.toLocaleString('en-US')} users.`,
    '',
  ];
  const markdown = [
    ...header,
    '## Targets',
    '',
    summaryMarkdown(entries),
    '',
    '## Scenarios',
    '',
    ...entries.map((e) => scenarioMarkdown(e.scenario, e.result)),
  ].join('\n');
  writeFileSync(join(outDir, 'results.md'), markdown);
  writeFileSync(
    join(outDir, 'results.json'),
    JSON.stringify(
      {
        info,
        ctx: { rounds: ctx.rounds, durationSec: ctx.durationSec, warmupSec: ctx.warmupSec, sizes },
        entries: entries.map((e) => ({ name: e.scenario.name, ...e.result })),
      },
      null,
      2,
    ),
  );
  log('\n## Targets\n');
  log(summaryMarkdown(entries));
  log(`\nWritten to ${join(outDir, 'results.md')}`);
  return entries.some((e) => e.result.error) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  log(`\nBenchmark harness failed: ${error.message}`);
} finally {
  await cleanup();
}
process.exit(code);
