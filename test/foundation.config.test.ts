import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/config.js';
import { freePort, runServerProcess, tempDir } from './support/process.js';

describe('configuration', () => {
  it('has safe defaults: port 8006, embedded database in ./.data, no Redis', () => {
    const config = loadConfig({});
    expect(config.http).toMatchObject({ port: 8006, host: '0.0.0.0', trustProxy: false });
    expect(config.database).toEqual({ kind: 'pglite', dataDir: './.data' });
    expect(config.redis.url).toBeUndefined();
    expect(config.jwt).toMatchObject({ accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 604_800 });
    expect(config.passwords.bcryptCost).toBe(12);
    expect(config.rateLimit.authPerMinute).toBe(30);
    expect(config.systemTenantSlug).toBe('system');
    expect(config.graphiql).toBe(true);
  });

  it.each([
    [{ PORT: 'abc' }, /PORT must be a whole number from 0 to 65535 \(got "abc"\)/],
    [{ DATABASE_URL: 'nonsense' }, /DATABASE_URL must be a URL like postgres:\/\//],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL must be a URL like redis:\/\//],
    [{ BCRYPT_COST: '3' }, /BCRYPT_COST must be a whole number from 4 to 16/],
    [{ TRUST_PROXY: 'maybe' }, /TRUST_PROXY must be true, false, a number/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV must be development, production or test/],
    [{ BOOTSTRAP_ADMIN_PASSWORD: 'x'.repeat(20) }, /BOOTSTRAP_ADMIN_EMAIL must be set/],
  ])('rejects %o with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes secret values in its messages', () => {
    expect(() => loadConfig({ KEY_ENCRYPTION_KEY: 'short-secret' })).toThrow(/KEY_ENCRYPTION_KEY/);
    try {
      loadConfig({ KEY_ENCRYPTION_KEY: 'short-secret' });
    } catch (error) {
      expect((error as Error).message).not.toContain('short-secret');
    }
  });

  it('understands proxy settings the way express does', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).http.trustProxy).toBe('loopback, 10.0.0.0/8');
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['DATABASE_URL', { DATABASE_URL: 'nonsense' }],
  ])('stops the real process with one clear line when %s is invalid', async (variable, env) => {
    const server = runServerProcess({ PORT: String(await freePort()), ...env });
    const code = await server.exited;
    expect(code).toBe(1);
    const lines = server.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
  });
});

describe('credentials in configuration errors', () => {
  it.each([
    [{ DATABASE_URL: 'postgres://admin:s3cret-pw@db.example:notaport/identity' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'mysql://admin:s3cret-pw@db.example/identity' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'admin:s3cret-pw@db.example/identity' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://default:s3cret-pw@cache.example:6379' }, 'REDIS_URL'],
    [{ REDIS_URL: 'redis//:s3cret-pw@cache.example:6379' }, 'REDIS_URL'],
  ])('%o: names the variable and the host, never the password', (env, variable) => {
    let message = '';
    try {
      loadConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(variable);
    expect(message).toContain('example');
    expect(message).not.toContain('s3cret-pw');
  });

  it('the real process prints one line without the password', async () => {
    const server = runServerProcess({
      PORT: String(await freePort()),
      DATABASE_URL: 'postgres://admin:s3cret-pw@db.example:notaport/identity',
    });
    expect(await server.exited).toBe(1);
    const lines = server.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('postgres://admin:***@db.example');
    expect(server.output()).not.toContain('s3cret-pw');
  });
});

describe('variables read from files (NAME_FILE)', () => {
  const dir = tempDir('identity-secrets-');
  afterAll(() => dir.remove());
  const secret = (name: string, content: string) => {
    const path = join(dir.path, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads any variable from the file, without its trailing newline', () => {
    const config = loadConfig({
      PASSWORD_PEPPER_FILE: secret('pepper', 'a-pepper-from-a-docker-secret\n'),
      DATABASE_URL_FILE: secret('db', 'postgres://app:pw@db:5432/identity\n'),
      PORT_FILE: secret('port', '9123'),
    });
    expect(config.passwords.pepper).toBe('a-pepper-from-a-docker-secret');
    expect(config.database).toMatchObject({ kind: 'postgres', url: 'postgres://app:pw@db:5432/identity' });
    expect(config.http.port).toBe(9123);
  });

  it.each([
    [
      () => ({ PASSWORD_PEPPER: 'x'.repeat(20), PASSWORD_PEPPER_FILE: secret('both', 'y'.repeat(20)) }),
      /Set PASSWORD_PEPPER or PASSWORD_PEPPER_FILE, not both/,
    ],
    [
      () => ({ METRICS_TOKEN_FILE: join(dir.path, 'missing') }),
      /METRICS_TOKEN_FILE: cannot read .* \(no such file\)/,
    ],
    [
      () => ({ KEY_ENCRYPTION_KEY_FILE: secret('short-kek', 'too-short-secret') }),
      /KEY_ENCRYPTION_KEY must be at least 32 characters long.* \(read from KEY_ENCRYPTION_KEY_FILE\)/,
    ],
  ])('explains a problem with a file in one line, never echoing what it holds', (env, message) => {
    expect(() => loadConfig(env())).toThrow(message);
    expect(() => loadConfig(env())).not.toThrow(/too-short-secret|yyyy/);
  });

  // Every secret the service reads, from a file (Docker secrets) exactly as from the variable.
  const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  it.each([
    ['DATABASE_URL', 'postgres://app:db-secret@db:5432/identity', {}],
    [
      'DATABASE_DIRECT_URL',
      'postgres://app:db-secret@db-direct:5432/identity',
      { DATABASE_URL: 'postgres://app@pool:6432/identity' },
    ],
    [
      'DATABASE_READ_URL',
      'postgres://app:db-secret@replica:5432/identity',
      { DATABASE_URL: 'postgres://app@db:5432/identity' },
    ],
    ['REDIS_URL', 'redis://:redis-secret@cache:6379/0', {}],
    ['REDIS_PASSWORD', 'redis-secret-password', {}],
    [
      'REDIS_SENTINEL_PASSWORD',
      'sentinel-secret-password',
      { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'mymaster' },
    ],
    [
      'BOOTSTRAP_ADMIN_PASSWORD',
      'violet-harbor-orbit-2719-secret',
      { BOOTSTRAP_ADMIN_EMAIL: 'root@example.com' },
    ],
    ['PASSWORD_PEPPER', 'a-pepper-from-a-docker-secret', {}],
    ['KEY_ENCRYPTION_KEY', 'k'.repeat(40), {}],
    ['SIGNING_KEY_JWK', JSON.stringify({ ...ed25519, kid: 'docker-secret-key' }), {}],
    ['CREDENTIAL_PEPPER', 'a-credential-pepper-secret', {}],
    ['METRICS_TOKEN', 'a-metrics-token-secret', {}],
    ['SMTP_URL', 'smtp://mailer:smtp-secret@mail.example:587', {}],
  ] as const)('reads the secret %s from %s_FILE as from the variable', (name, value, base) => {
    const direct = loadConfig({ ...base, [name]: value });
    const fromFile = loadConfig({ ...base, [`${name}_FILE`]: secret(`secret-${name}`, `${value}\n`) });
    expect(fromFile).toEqual(direct);
  });

  it('does not echo a non-secret value read from a file either', () => {
    expect(() => loadConfig({ PORT_FILE: secret('bad-port', 'not-a-port') })).toThrow(/PORT must be/);
    expect(() => loadConfig({ PORT_FILE: secret('bad-port', 'not-a-port') })).not.toThrow(/not-a-port/);
  });
});

describe('documentation of the configuration', () => {
  const root = new URL('..', import.meta.url).pathname;
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const example = readFileSync(join(root, '.env.example'), 'utf8');

  it.each(CONFIG_VARIABLES)('%s is in the README table and in .env.example with its default', (name) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
    const line = new RegExp(`^${name}=(.*)$`, 'm').exec(example);
    expect(line, `${name}= line in .env.example`).not.toBeNull();
    // The line before it says what it means.
    const before = example.slice(0, line?.index).trimEnd().split('\n').pop() ?? '';
    expect(before).toMatch(/^# \S/);
  });

  it('.env.example holds nothing the service does not read', () => {
    const listed = [...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
    expect(listed.filter((name) => !CONFIG_VARIABLES.includes(name as string))).toEqual([]);
  });

  it('.env.example, loaded as it is, is a valid configuration with the documented defaults', () => {
    const env = Object.fromEntries(
      [...example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((match) => [match[1], match[2]]),
    );
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });
});
