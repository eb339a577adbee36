import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runServerProcess, type ServerProcess, tempDir, waitFor } from './support/process.js';

/**
 * The README's quick start, as a new user runs it: the commands of its shell blocks, copied
 * verbatim into bash, against a server started the way `npm start` starts it on a fresh data
 * directory (the built server, an empty DATA_DIR). Only two things are put in as the user would:
 * the generated administrator password pasted from the server's frame, and the port (a free one
 * instead of 8006). The last command must print what the README says it prints.
 */

const run = promisify(execFile);
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = README.slice(
  README.indexOf('## Quick start'),
  README.indexOf('\n## ', README.indexOf('## Quick start') + 1),
);
const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
const promised = /The last command prints `([^`]+)`/.exec(section)?.[1];

describe('README quick start', () => {
  const dataDir = tempDir('identity-quick-start-');
  let server: ServerProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    server = runServerProcess({ PORT: String(port), DATA_DIR: dataDir.path });
    await waitFor(`http://127.0.0.1:${port}/ready`, 200, 60_000);
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
    dataDir.remove();
  });

  it('has the blocks a user copies: start, the helper, the walk to a signed-in user of a second tenant', () => {
    expect(blocks).toHaveLength(3);
    expect(blocks[0]?.trim()).toBe('npm ci && npm start');
    expect(blocks[1]).toContain("ADMIN_PASSWORD='paste the generated password here'");
    expect(blocks[2]).toContain('createTenant');
    expect(promised).toBeDefined();
  });

  it('runs, command by command, to the user of the new tenant signed in', async () => {
    const password = /generated password:\s+(\S+)/.exec(server.output())?.[1];
    expect(password, server.output()).toBeDefined();
    const script = [
      'set -euo pipefail',
      (blocks[1] ?? '').replace(
        "ADMIN_PASSWORD='paste the generated password here'",
        `ADMIN_PASSWORD='${password}'`,
      ),
      blocks[2] ?? '',
    ]
      .join('\n')
      .replaceAll('http://localhost:8006', `http://localhost:${port}`);
    expect(script).not.toContain('8006');
    const { stdout } = await run('bash', ['-c', script], {
      env: { PATH: process.env.PATH ?? '' },
      timeout: 60_000,
    });
    const lines = stdout.trim().split('\n');
    // createTenant and register print what they made; the last line is `me`.
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ slug: 'acme' });
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ email: 'ada@acme.test', role: 'USER' });
    expect(lines.at(-1)).toBe(promised);
  }, 60_000);
});
