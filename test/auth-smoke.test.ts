import { describe, expect, it } from 'vitest';
import { errorCode, SYSTEM_ADMIN, useTestServer } from './support/server.js';

describe('sign-in smoke', () => {
  const server = useTestServer();

  it('logs the bootstrap admin in and reads me', async () => {
    const login = await server.gql(
      `mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { email role tenant { slug } } session { id current } } }`,
      { input: { tenant: 'system', email: SYSTEM_ADMIN.email, password: SYSTEM_ADMIN.password } },
    );
    expect(login.errors).toBeUndefined();
    const token = login.data?.login.accessToken;
    const me = await server.gql(
      '{ me { email role tenant { slug settings { passwordMinLength } } } mySessions { id current } }',
      {},
      { token },
    );
    expect(me.errors).toBeUndefined();
    expect(me.data?.me).toMatchObject({
      email: SYSTEM_ADMIN.email,
      role: 'ADMIN',
      tenant: { slug: 'system' },
    });
    const logout = await server.gql('mutation { logout }', {}, { token });
    expect(logout.data?.logout).toBe(true);
    const after = await server.gql('{ me { email } }', {}, { token });
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
    expect(after.status).toBe(401);
  });
});
