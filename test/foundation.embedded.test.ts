import { afterAll, describe, expect, it } from 'vitest';
import { freePort, postGraphQL, runServerProcess, tempDir, waitFor } from './support/process.js';

/** The zero-setup default: no DATABASE_URL, an embedded PostgreSQL (PGlite) in DATA_DIR. */
describe('embedded database (PGlite)', () => {
  const dataDir = tempDir('identity-pglite-');
  afterAll(() => dataDir.remove());

  it('starts with nothing configured, serves GraphQL, and keeps its data across restarts', async () => {
    const port = String(await freePort());
    const first = runServerProcess({ PORT: port, DATA_DIR: dataDir.path, BCRYPT_COST: '4' });
    try {
      const healthAfterMs = await waitFor(`${first.url}/health`);
      expect(healthAfterMs).toBeLessThan(5_000);
      await waitFor(`${first.url}/ready`, 200, 30_000);
      const typename = await postGraphQL(first.url, '{ __typename }');
      expect(typename.body).toEqual({ data: { __typename: 'Query' } });
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // The generated admin password is printed once, on the first start only.
    const password = /generated password:\s+(\S+)/.exec(first.output())?.[1];
    expect(password).toBeTruthy();

    const second = runServerProcess({ PORT: port, DATA_DIR: dataDir.path, BCRYPT_COST: '4' });
    try {
      await waitFor(`${second.url}/ready`, 200, 30_000);
      const login = await postGraphQL(
        second.url,
        'mutation ($input: LoginInput!) { login(input: $input) { user { email role } } }',
        { input: { tenant: 'system', email: 'admin@localhost', password } },
      );
      expect(login.body.errors).toBeUndefined();
      expect(login.body.data.login.user).toEqual({ email: 'admin@localhost', role: 'ADMIN' });
      expect(second.output()).not.toContain('generated password');
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 90_000);
});
