import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * One process at a time on an embedded database: PGlite has no locking of its own, and two
 * processes writing one data directory silently lose each other's changes. The owner writes
 * `DATA_DIR/.lock` (created exclusively) and removes it when it exits.
 *
 * A lock left by a process that died is taken over: on the same host when its process is gone
 * (or its pid now belongs to another program, told apart by the process start time Linux keeps),
 * and from another host (a shared volume) when its owner stopped refreshing it for STALE_MS.
 */

export const LOCK_FILE = '.lock';
const REFRESH_MS = 10_000;
const STALE_MS = 30_000;

export class DataDirError extends Error {
  override name = 'DataDirError';
}

interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the owning process (Linux /proc clock ticks), to tell a reused pid apart. */
  processStart: string | null;
  since: string;
}

export interface DataDirLock {
  path: string;
  release(): void;
}

/**
 * Creates `dataDir` when missing and takes its lock. Throws DataDirError with one line for an
 * operator: the directory is not writable (and how to fix that) or another process holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  const path = join(dir, LOCK_FILE);
  // The server locks before it listens and again when it opens the database: one lock, counted.
  const mine = heldHere.get(path);
  if (mine) {
    mine.count += 1;
    return handle(path);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw notWritable(dir, error);
  }
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    processStart: processStart(process.pid),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw notWritable(dir, error);
      const owner = readOwner(path);
      if (owner && !isStale(owner, path)) throw held(dir, owner);
      takeOverStale(path, owner);
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(me)}\n`);
    } finally {
      closeSync(fd);
    }
    heldHere.set(path, { count: 1, lock: holdLock(path, me) });
    return handle(path);
  }
  throw new DataDirError(`Could not lock the embedded database in ${dir}: another process keeps taking it.`);
}

const heldHere = new Map<string, { count: number; lock: DataDirLock }>();

/** A handle whose release counts once, however often it is called. */
function handle(path: string): DataDirLock {
  let released = false;
  return {
    path,
    release: () => {
      if (released) return;
      released = true;
      releaseHeld(path);
    },
  };
}

function releaseHeld(path: string) {
  const mine = heldHere.get(path);
  if (!mine) return;
  mine.count -= 1;
  if (mine.count > 0) return;
  heldHere.delete(path);
  mine.lock.release();
}

function holdLock(path: string, me: LockOwner): DataDirLock {
  // The refresh tells processes on other hosts (a shared volume) that the owner is alive.
  const refresh = setInterval(() => {
    const now = new Date();
    try {
      utimesSync(path, now, now);
    } catch {
      // Removed under us; nothing useful to do until release.
    }
  }, REFRESH_MS);
  refresh.unref();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearInterval(refresh);
    process.off('exit', release);
    const owner = readOwner(path);
    if (owner && owner.pid === me.pid && owner.host === me.host && owner.since === me.since) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    }
  };
  // Also on process.exit() and crashes that still run exit handlers.
  process.on('exit', release);
  return { path, release };
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    return {
      pid: parsed.pid,
      host: parsed.host,
      processStart: parsed.processStart ?? null,
      since: String(parsed.since ?? ''),
    };
  } catch {
    // Unreadable or half-written: a writer is between open and write, or it crashed there.
    return undefined;
  }
}

function isStale(owner: LockOwner, path: string): boolean {
  if (owner.host !== hostname()) {
    try {
      const { mtimeMs } = statSync(path);
      return Date.now() - mtimeMs > STALE_MS;
    } catch {
      return true;
    }
  }
  // Our own pid in someone else's lock: a container restarted with the same pid as before.
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user, so it is alive.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  const start = processStart(owner.pid);
  return owner.processStart !== null && start !== null && start !== owner.processStart;
}

/**
 * Moves a stale lock aside. Should two processes judge it stale at once, the one whose rename
 * picked up a fresh lock (taken in between by the other) puts it back and fails the next try.
 */
function takeOverStale(path: string, stale: LockOwner | undefined) {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // Someone else moved it first; try again.
  }
  const moved = readOwner(aside);
  if (stale && moved && (moved.pid !== stale.pid || moved.since !== stale.since)) {
    try {
      renameSync(aside, path);
    } catch {
      // Nothing better to do.
    }
    return;
  }
  try {
    unlinkSync(aside);
  } catch {
    // Gone already.
  }
}

/** Field 22 of /proc/<pid>/stat (Linux): when the process started, in clock ticks since boot. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function held(dir: string, owner: LockOwner): DataDirError {
  const who = owner.host === hostname() ? `process ${owner.pid}` : `process ${owner.pid} on ${owner.host}`;
  return new DataDirError(
    `The embedded database in ${dir} is in use by ${who} (since ${owner.since}): stop that process first, or give this one another DATA_DIR. Only one process may open an embedded database.`,
  );
}

function notWritable(dir: string, error: unknown): DataDirError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const uid = process.getuid?.();
    const gid = process.getgid?.();
    const user = uid === undefined ? 'this process' : `this process (uid ${uid}, gid ${gid})`;
    return new DataDirError(
      code === 'EROFS'
        ? `DATA_DIR ${dir} is on a read-only file system: mount a writable volume there, or point DATA_DIR at a writable directory.`
        : `DATA_DIR ${dir} is not writable by ${user}: give it to that user (e.g. \`chown -R ${uid ?? '<uid>'}:${gid ?? '<gid>'} ${dir}\`; for a Docker volume: \`docker run --rm -u root -v <volume>:${dir} identity-api chown -R node:node ${dir}\`), or point DATA_DIR at a writable directory.`,
    );
  }
  return new DataDirError(`DATA_DIR ${dir} cannot be used: ${(error as Error).message}`);
}
