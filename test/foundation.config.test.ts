import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { freePort, runServerProcess } from './support/process.js';

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
