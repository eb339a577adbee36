import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  attemptLogin,
  createTenant,
  REGISTER,
  registerUser,
  strongPassword,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/** Signing up: where it is allowed, with which emails, and the signed-in answer it gives. */

const server = useTestServer();
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

function register(input: Record<string, unknown>) {
  return server.gql(REGISTER, { input: { password: strongPassword(), ...input } });
}

describe('register', () => {
  it('signs the new user in with the tenant default role', async () => {
    const tenant = await createTenant(server, { settings: { defaultRole: 'GUEST' } });
    const email = `${unique('guest')}@example.test`;
    const response = await register({ tenant: tenant.slug, email, displayName: '  Grace  ' });
    expect(response.errors).toBeUndefined();
    const payload = response.data?.register;
    expect(payload).toMatchObject({
      tokenType: 'Bearer',
      user: { email, displayName: 'Grace', role: 'GUEST' },
      session: { current: true },
    });
    expect(decodeJwt(payload.accessToken)).toMatchObject({ role: 'GUEST', tid: tenant.id });
    const me = await server.gql('{ me { id role } }', {}, { token: payload.accessToken });
    expect(me.data?.me).toEqual({ id: payload.user.id, role: 'GUEST' });
  });

  it('is FORBIDDEN where the tenant does not allow self-registration, the system tenant included', async () => {
    const closed = await createTenant(server, { settings: { allowSelfRegistration: false } });
    for (const tenant of [closed.slug, 'system']) {
      const email = `${unique('closed')}@example.test`;
      const response = await register({ tenant, email });
      expect(errorCode(response)).toBe('FORBIDDEN');
      expect(response.data ?? null).toBeNull();
      // No account was made.
      expect(errorCode(await attemptLogin(server, tenant, email, 'whatever password'))).toBe(
        'UNAUTHENTICATED',
      );
    }
  });

  it('is NOT_FOUND at a tenant that does not exist', async () => {
    const response = await register({ tenant: unique('nowhere'), email: `${unique('u')}@example.test` });
    expect(errorCode(response)).toBe('NOT_FOUND');
  });

  it('rejects invalid emails with BAD_USER_INPUT on the email field', async () => {
    for (const email of [
      '',
      '   ',
      'plainaddress',
      'two@@example.test',
      'a@b@example.test',
      'no-domain@',
      'sp ace@example.test',
    ]) {
      const response = await register({ tenant: tenantSlug, email });
      expect(errorCode(response), email).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'email', message: expect.any(String) },
      ]);
    }
  });

  it('is CONFLICT for an email already taken in the tenant, in any case or padding', async () => {
    const taken = `${unique('Taken')}@Example.test`;
    await registerUser(server, tenantSlug, { email: taken });
    for (const email of [taken, taken.toLowerCase(), `  ${taken.toUpperCase()} `]) {
      const response = await register({ tenant: tenantSlug, email });
      expect(errorCode(response), email).toBe('CONFLICT');
    }
    // Another tenant is another namespace.
    const elsewhere = await createTenant(server);
    expect((await registerUser(server, elsewhere.slug, { email: taken })).email).toBe(taken);
  });
});

describe("signing in while sending another account's valid token", () => {
  const PAYLOAD = '{ user { id tenant { slug } } session { id current } }';

  it('answers login, register and refresh with the new account and session', async () => {
    const first = await registerUser(server, tenantSlug);
    const otherTenant = await createTenant(server);
    const second = await registerUser(server, otherTenant.slug);
    const token = first.accessToken;
    const answers = {
      login: await server.gql(
        `mutation ($input: LoginInput!) { login(input: $input) ${PAYLOAD} }`,
        {
          input: { tenant: otherTenant.slug, email: second.email, password: second.password },
        },
        { token },
      ),
      register: await server.gql(
        `mutation ($input: RegisterInput!) { register(input: $input) ${PAYLOAD} }`,
        {
          input: {
            tenant: otherTenant.slug,
            email: `${unique('third')}@example.test`,
            password: strongPassword(),
          },
        },
        { token },
      ),
      refresh: await server.gql(
        `mutation ($input: RefreshInput!) { refresh(input: $input) ${PAYLOAD} }`,
        {
          input: { refreshToken: second.refreshToken },
        },
        { token },
      ),
    };
    for (const [name, answer] of Object.entries(answers)) {
      expect(answer.errors, name).toBeUndefined();
      const payload = answer.data?.[name];
      expect(payload.user.tenant.slug, name).toBe(otherTenant.slug);
      expect(payload.user.id, name).not.toBe(first.userId);
      expect(payload.session.current, name).toBe(true);
    }
    expect(answers.login.data?.login.user.id).toBe(second.userId);
    expect(answers.refresh.data?.refresh.session.id).toBe(second.sessionId);
    // The first account's session is untouched.
    expect(await tokenWorks(server, token)).toBe(true);
  });
});
