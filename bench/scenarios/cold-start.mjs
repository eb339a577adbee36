// Cold start: from spawning `node dist/bundle/main.js` to the first 200 from /ready, on PostgreSQL.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, databaseUrl, dropDatabase } from '../lib/data.mjs';
import { hrUs, serviceEnv, target } from '../lib/harness.mjs';
import { median } from '../lib/load.mjs';
import { freePort, startProcess, waitForOk } from '../lib/procs.mjs';
import { summarizeProfile } from '../lib/profile.mjs';

async function startOnce(ctx, name, overrides, { profile = false } = {}) {
  const port = await freePort();
  const profileDir = join(ctx.outDir, 'profiles');
  if (profile) mkdirSync(profileDir, { recursive: true });
  const proc = startProcess({
    name,
    args: [join(ctx.root, 'dist/bundle/main.js')],
    cwd: ctx.root,
    // The production default cost: the first start hashes the bootstrap admin's password with it.
    env: serviceEnv(ctx, port, { BCRYPT_COST: '12', ...overrides }),
    logFile: join(ctx.outDir, `${name}.log`),
    nodeFlags: profile
      ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`]
      : [],
  });
  let ms;
  const spawnedUs = hrUs();
  try {
    ms = await waitForOk(proc, `http://127.0.0.1:${port}/ready`, { intervalMs: 5 });
    return { ms, rss: proc.rss() };
  } finally {
    const readyUs = hrUs();
    await proc.stop();
    // From spawn to ready: the start-up only, not the shutdown.
    if (profile)
      ctx.addProfile(name, summarizeProfile(join(profileDir, `${name}.cpuprofile`), [[spawnedUs, readyUs]]));
  }
}

export const coldStart = {
  name: 'cold-start',
  title: 'cold start: spawn → first 200 from `/ready` (PostgreSQL and Redis)',
  needs: [],
  async run(ctx) {
    const rounds = ctx.smoke ? 1 : 5;
    const restart = [];
    const first = [];
    const ceiling = [];
    for (let i = 0; i < rounds; i++) {
      // A deployment restarting: migrations already applied, system tenant already there.
      restart.push(await startOnce(ctx, `cold-restart-${i}`, {}));
      // A brand-new deployment: an empty database, every migration and the bootstrap to run.
      const name = `${ctx.dbName}_cold${i}`;
      await createDatabase(ctx.adminUrl, name);
      try {
        first.push(
          await startOnce(ctx, `cold-first-${i}`, { DATABASE_URL: databaseUrl(ctx.adminUrl, name) }),
        );
      } finally {
        await dropDatabase(ctx.adminUrl, name);
      }
      // Reference: the bare ceiling process to its first 200.
      const port = await freePort();
      const proc = startProcess({
        name: 'ceiling-cold',
        args: [join(ctx.benchDir, 'ceiling.mjs')],
        cwd: ctx.benchDir,
        env: { PATH: process.env.PATH, PORT: String(port), NODE_ENV: ctx.nodeEnv, CEILING: 'standalone' },
        logFile: join(ctx.outDir, 'ceiling-cold.log'),
      });
      try {
        const url = `http://127.0.0.1:${port}/graphql?query=%7Bhello%7D`;
        const headers = { 'apollo-require-preflight': 'true' };
        ceiling.push({ ms: await waitForOk(proc, url, { intervalMs: 5, headers }) });
      } finally {
        await proc.stop();
      }
    }
    if (ctx.profile) {
      await startOnce(ctx, 'cold-restart-profiled', {}, { profile: true });
      const name = `${ctx.dbName}_coldp`;
      await createDatabase(ctx.adminUrl, name);
      try {
        await startOnce(
          ctx,
          'cold-first-profiled',
          { DATABASE_URL: databaseUrl(ctx.adminUrl, name) },
          { profile: true },
        );
      } finally {
        await dropDatabase(ctx.adminUrl, name);
      }
    }
    const fmt = (runs) => runs.map((r) => Math.round(r.ms)).join(', ');
    const restartMs = median(restart.map((r) => r.ms));
    const firstMs = median(first.map((r) => r.ms));
    return {
      rows: [
        {
          label: 'restart (migrated database)',
          connections: '—',
          startMs: restartMs,
          rssPeak: Math.max(...restart.map((r) => r.rss ?? 0)),
        },
        {
          label: 'first start (empty database)',
          connections: '—',
          startMs: firstMs,
          rssPeak: Math.max(...first.map((r) => r.rss ?? 0)),
        },
        {
          label: 'ceiling process to first 200',
          connections: '—',
          startMs: median(ceiling.map((r) => r.ms)),
        },
      ],
      targets: [
        target('restart to /ready', '≤ 1,000 ms', `${Math.round(restartMs)} ms`, restartMs <= 1_000),
        target(
          'first start (migrations, bootstrap at cost 12) to /ready',
          '≤ 1,000 ms',
          `${Math.round(firstMs)} ms`,
          firstMs <= 1_000,
        ),
      ],
      notes: [
        `Medians of ${rounds}: restart ${fmt(restart)} ms; first start ${fmt(first)} ms; ceiling ${fmt(ceiling)} ms. RSS is at the moment /ready first answered.`,
      ],
    };
  },
};
