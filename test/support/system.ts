import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Programs the tests run that Node does not bring (redis-server, Chromium, PgBouncer, PostgreSQL's
 * own tools): found on the machine, installed from the distribution's packages when the tests run
 * as root on a machine with apt-get, otherwise one line naming the package to install.
 */
export interface SystemProgram {
  /** What the tests need it for, in the error line. */
  what: string;
  /** Absolute paths to try, or a bare command name looked up on PATH. */
  candidates: string[];
  /** Debian's package that installs it. */
  aptPackage: string;
}

export const REDIS_SERVER: SystemProgram = {
  what: 'redis-server (Redis for the tests)',
  candidates: ['redis-server', '/usr/bin/redis-server'],
  aptPackage: 'redis-server',
};
export const CHROMIUM_PROGRAM: SystemProgram = {
  what: 'Chromium (the browser tests)',
  candidates: [process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'],
  aptPackage: 'chromium',
};
export const PGBOUNCER_PROGRAM: SystemProgram = {
  what: 'PgBouncer (the pooler tests)',
  candidates: ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'],
  aptPackage: 'pgbouncer',
};

export const isRoot = () => process.getuid?.() === 0;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The program's path on this machine, or undefined. */
export function findProgram(program: SystemProgram): string | undefined {
  for (const candidate of program.candidates) {
    if (candidate.includes('/')) {
      if (existsSync(candidate) && executable(candidate)) return candidate;
      continue;
    }
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      const path = join(dir, candidate);
      if (dir && existsSync(path) && executable(path)) return path;
    }
  }
  return undefined;
}

/** The line a test fails with when `program` is missing and cannot be installed here. */
export function missingLine(program: SystemProgram): string {
  return `${program.what} is not installed: install Debian's package ${program.aptPackage} (sudo apt-get install ${program.aptPackage}).`;
}

let aptUpdated = false;

/** apt-get install, as root; waits for another apt/dpkg run (another test file, CI) to finish. */
export function aptInstall(packages: string[]): void {
  const apt = (args: string[]) =>
    execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 900_000,
    });
  if (!aptUpdated) {
    apt(['update']);
    aptUpdated = true;
  }
  apt(['install', '-y', '--no-install-recommends', ...packages]);
}

/**
 * The program's path: found, or installed now (as root, with apt-get). Throws one line naming the
 * package when it is missing and this user cannot install it.
 */
export function ensureProgram(
  program: SystemProgram,
  log: (line: string) => void = () => {},
  asRoot = isRoot(),
): string {
  const found = findProgram(program);
  if (found) return found;
  if (!asRoot || !findProgram({ ...program, candidates: ['apt-get'] })) throw new Error(missingLine(program));
  log(`installing Debian's ${program.aptPackage} for ${program.what}`);
  try {
    aptInstall([program.aptPackage]);
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '')
      .trim()
      .split('\n')
      .at(-1);
    throw new Error(
      `${missingLine(program)} apt-get install ${program.aptPackage} failed: ${stderr || (error as Error).message}`,
    );
  }
  const installed = findProgram(program);
  if (!installed)
    throw new Error(
      `${missingLine(program)} (installed, but not found at ${program.candidates.join(' or ')})`,
    );
  return installed;
}

/** The program's path, or one line naming the package (tests: never install from inside a worker). */
export function requireProgram(program: SystemProgram): string {
  const found = findProgram(program);
  if (!found) throw new Error(missingLine(program));
  return found;
}

/**
 * The OS user servers of the tests run as when the tests run as root (PostgreSQL and PgBouncer
 * refuse root): `postgres` where it exists, else `nobody`.
 */
export function serviceUser(): { name: string; uid: number; gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { name, uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error('running as root, but there is neither a postgres nor a nobody OS user to run servers as');
}
