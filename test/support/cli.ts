import { spawn } from 'node:child_process';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run <script> -- <args>` in the checkout as a user would, with exactly `env` (plus
 * PATH and HOME), and collects its output.
 */
export function runNpmScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  options: { uid?: number; gid?: number } = {},
): Promise<CliResult> {
  return runCommand(
    'npm',
    ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])],
    env,
    options,
  );
}

export function runCommand(
  command: string,
  args: string[],
  env: Record<string, string>,
  options: { uid?: number; gid?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The password of a framed "generated password:" block in a tool's or the server's output. */
export function generatedPassword(output: string): string | undefined {
  return /generated password:\s+(\S+)/.exec(output)?.[1];
}
