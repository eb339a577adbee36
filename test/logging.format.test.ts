import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { freePort, runServerProcess, waitFor } from './support/process.js';

/**
 * Logs are JSON for machines and readable lines for a person at a terminal: chosen by whether
 * standard output is a terminal and NODE_ENV, or by LOG_FORMAT.
 */

const ROOT = new URL('..', import.meta.url).pathname;
/** A pretty line: "[12:34:56.789] INFO: message". */
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: colour escapes are what is looked for
const COLOUR = /\u001b\[\d+m/g;

describe('LOG_FORMAT', () => {
  it('is pretty on a terminal outside production, JSON otherwise, unless it is set', () => {
    const tty = { stdoutIsTty: true };
    const pipe = { stdoutIsTty: false };
    expect(loadConfig({}, tty).logFormat).toBe('pretty');
    expect(loadConfig({ NODE_ENV: 'test' }, tty).logFormat).toBe('pretty');
    expect(loadConfig({ NODE_ENV: 'production' }, tty).logFormat).toBe('json');
    expect(loadConfig({}, pipe).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: 'json' }, tty).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: 'PRETTY', NODE_ENV: 'production' }, pipe).logFormat).toBe('pretty');
    expect(() => loadConfig({ LOG_FORMAT: 'yaml' }, pipe)).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_FORMAT: 'yaml' }, pipe)).toThrow(
      /LOG_FORMAT must be json or pretty \(got "yaml"\)/,
    );
  });
});

describe('the server process', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** Starts the built server, sends one GraphQL request, stops it and returns what it wrote. */
  async function run(env: Record<string, string>): Promise<string> {
    const port = await freePort();
    const server = runServerProcess({
      PORT: String(port),
      DATABASE_URL: database.url,
      BCRYPT_COST: '4',
      BOOTSTRAP_ADMIN_EMAIL: 'root@logs.test',
      BOOTSTRAP_ADMIN_PASSWORD: 'violet tram harbour 9 lanterns',
      ...env,
    });
    try {
      await waitFor(`http://127.0.0.1:${port}/ready`);
      await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
    } finally {
      await server.stop();
    }
    return server.output();
  }

  it('writes human lines with LOG_FORMAT=pretty', async () => {
    const lines = (await run({ LOG_FORMAT: 'pretty' })).split('\n').filter((line) => line.trim() !== '');
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    const headings = lines.filter((line) => PRETTY_LINE.test(line));
    expect(headings.length).toBeGreaterThan(2);
    // The access log line, its fields below it, one a line.
    expect(headings.some((line) => line.includes('INFO: graphql request'))).toBe(true);
    expect(lines.some((line) => /^\s+status: 200$/.test(line))).toBe(true);
    // Not a terminal here: no colour escapes.
    expect(lines.join('\n')).not.toMatch(COLOUR);
  });

  it('writes one JSON object a line with LOG_FORMAT=json', async () => {
    const lines = (await run({ LOG_FORMAT: 'json' })).split('\n').filter((line) => line.startsWith('{'));
    expect(lines.length).toBeGreaterThan(2);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.some((entry) => entry.msg === 'graphql request' && entry.status === 200)).toBe(true);
    for (const entry of entries)
      expect(entry).toMatchObject({ level: expect.any(String), service: 'identity-api' });
  });

  it('picks pretty, coloured lines by itself on a terminal in development', async () => {
    const port = await freePort();
    // script(1) gives the server a pseudo-terminal as its standard output.
    const child = spawn('script', ['-qfec', 'node dist/bundle/main.js', '/dev/null'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        PORT: String(port),
        NODE_ENV: 'development',
        DATABASE_URL: database.url,
        BCRYPT_COST: '4',
        BOOTSTRAP_ADMIN_EMAIL: 'root@logs.test',
        BOOTSTRAP_ADMIN_PASSWORD: 'violet tram harbour 9 lanterns',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await waitFor(`http://127.0.0.1:${port}/ready`);
      await new Promise((resolve) => setTimeout(resolve, 400)); // the log buffer's flush interval
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(output).toMatch(COLOUR);
    const lines = output.replace(COLOUR, '').replace(/\r/g, '').split('\n');
    expect(lines.filter((line) => PRETTY_LINE.test(line)).length).toBeGreaterThan(0);
    expect(lines.filter((line) => line.startsWith('{"'))).toEqual([]);
  });
});
