// First and second start on the embedded database (PGlite), the way `npm start` runs on a fresh
// clone: spawn `node dist/bundle/main.js` with an empty DATA_DIR, time the first 200 answer to a
// GraphQL POST (`{ __typename }`), stop it, start again on the same directory, time that too.
//   node bench/embedded-start.mjs [--rounds 3] [--compare <other checkout>]
// Prints each run and the start-up steps the server logged (`startupSteps`, milliseconds). With
// --compare, rounds alternate between this checkout and the other one's built dist/ (e.g. a
// worktree of main), so both meet the same load on a shared machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './lib/procs.mjs';

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 3;
const compareIndex = args.indexOf('--compare');
const roots = [resolve(import.meta.dirname, '..')];
if (compareIndex >= 0) roots.push(resolve(args[compareIndex + 1]));

async function startOnce(root, dataDir) {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist/bundle/main.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', () => {});
  let firstAnswerMs;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      await response.arrayBuffer();
      if (response.status === 200) {
        firstAnswerMs = performance.now() - began;
        break;
      }
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    if (performance.now() - began > 60_000) throw new Error('no answer within 60 s');
    await sleep(5);
  }
  // CPU the server spent until then (all its threads), from /proc: less at the mercy of a busy
  // machine than the wall time.
  const ticks = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const cpuMs = Math.round(((Number(ticks[11]) + Number(ticks[12])) * 1000) / 100);
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
  const line = output.split('\n').find((l) => l.includes('"startupSteps"'));
  const steps = line ? JSON.parse(line).startupSteps : undefined;
  const startupMs = line ? JSON.parse(line).startupMs : undefined;
  return { firstAnswerMs: Math.round(firstAnswerMs), cpuMs, startupMs, steps };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = new Map(roots.map((root) => [root, { first: [], second: [] }]));
for (let i = 0; i < rounds; i++) {
  for (const root of roots) {
    const dataDir = mkdtempSync(join(tmpdir(), 'identity-embedded-start-'));
    try {
      const first = await startOnce(root, dataDir);
      const second = await startOnce(root, dataDir);
      results.get(root).first.push(first);
      results.get(root).second.push(second);
      for (const [which, run] of [
        ['first', first],
        ['second', second],
      ]) {
        console.log(
          `${root} round ${i + 1}: ${which} ${run.firstAnswerMs} ms (CPU ${run.cpuMs} ms) ${JSON.stringify(run.steps ?? {})}`,
        );
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
for (const [root, { first, second }] of results) {
  const ms = (runs) => runs.map((r) => r.firstAnswerMs);
  const cpu = (runs) => runs.map((r) => r.cpuMs);
  console.log(
    `${root}: to the first GraphQL answer, first start median ${median(ms(first))} ms [${ms(first).join(', ')}] (CPU median ${median(cpu(first))} ms [${cpu(first).join(', ')}]), second start median ${median(ms(second))} ms [${ms(second).join(', ')}] (CPU median ${median(cpu(second))} ms [${cpu(second).join(', ')}]) (${rounds} rounds)`,
  );
}
