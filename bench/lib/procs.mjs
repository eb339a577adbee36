// Child processes of the benchmark: the service (dist/bundle/main.js), the ceiling, helpers. Each one is
// watched for its resident set size (peak per measured window) and stopped by its own pid.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set();

/** A free TCP port on loopback (asked from the kernel, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process in bytes, or null once it is gone. */
export function rssOf(pid) {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Spawns `node <args>` with its output in `logFile`, and samples its RSS every 100 ms.
 * `peak()` is the highest RSS since the last `resetPeak()`.
 */
export function startProcess({ name, args, cwd, env, logFile, nodeFlags = [] }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...nodeFlags, ...args], {
    cwd,
    env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let peak = 0;
  let exited = null;
  const exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(proc);
      clearInterval(sampler);
      resolve(exited);
    });
  });
  const sample = () => {
    const rss = rssOf(child.pid);
    if (rss !== null && rss > peak) peak = rss;
    return rss;
  };
  const sampler = setInterval(sample, 100);
  sampler.unref();
  const proc = {
    name,
    pid: child.pid,
    child,
    logFile,
    spawnedAt: performance.now(),
    exit,
    get exited() {
      return exited;
    },
    rss: sample,
    peak: () => Math.max(peak, sample() ?? 0),
    resetPeak: () => {
      peak = sample() ?? 0;
    },
    async stop(timeoutMs = 20_000) {
      if (exited) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
  };
  running.add(proc);
  return proc;
}

/** Polls `url` until it answers 200; resolves to the milliseconds since the process was spawned. */
export async function waitForOk(proc, url, { timeoutMs = 60_000, intervalMs = 10, headers = {} } = {}) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (proc.exited) {
      throw new Error(
        `${proc.name} exited (${JSON.stringify(proc.exited)}) before ${url} answered; see ${proc.logFile}:\n${tail(proc.logFile)}`,
      );
    }
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - proc.spawnedAt;
    } catch {
      // not listening yet
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `${proc.name} did not answer 200 at ${url} within ${timeoutMs} ms; see ${proc.logFile}:\n${tail(proc.logFile)}`,
  );
}

export function tail(file, lines = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Stops every process still running (on the way out, also after a failure). */
export async function stopAll() {
  await Promise.all([...running].map((proc) => proc.stop(5_000)));
}

/** The two ceilings; the first is the one targets are set against. */
export const CEILINGS = ['standalone', 'express'];

/** Starts one ceiling process; ready once `{ hello }` answers over GET (as a browser would not). */
export async function startCeiling(ctx, kind) {
  const port = await freePort();
  const proc = startProcess({
    name: `ceiling-${kind}`,
    args: [join(ctx.benchDir, 'ceiling.mjs')],
    cwd: ctx.benchDir,
    env: { PATH: process.env.PATH, PORT: String(port), NODE_ENV: ctx.nodeEnv, CEILING: kind },
    logFile: join(ctx.outDir, `ceiling-${kind}.log`),
  });
  const url = `http://127.0.0.1:${port}`;
  const readyMs = await waitForOk(proc, `${url}/graphql?query=%7Bhello%7D`, {
    headers: { 'apollo-require-preflight': 'true' },
  });
  return { kind, proc, url, graphql: `${url}/graphql`, readyMs };
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU time (user + system) a process has used so far, in ms; null once it is gone. */
export function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return null;
  }
}

/** CPU ms used so far by every process with one of these names (e.g. the local PostgreSQL). */
export function cpuMsByName(names) {
  const byPid = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) continue;
    } catch {
      continue;
    }
    const ms = cpuMsOf(entry);
    if (ms !== null) byPid.set(entry, ms);
  }
  return byPid;
}

/** CPU ms those processes used between two cpuMsByName snapshots (new processes: all of theirs). */
export function cpuMsBetween(before, after) {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}
