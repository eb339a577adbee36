import { describe, expect, it } from 'vitest';
import { createTenant, registerUser, type SignedIn } from './support/fixtures.js';
import { errorCode, type TestServer, useTestServer } from './support/server.js';
import { SoftwareAuthenticator } from './support/webauthn.js';

/**
 * Where passkey ceremonies may come from. Without WEBAUTHN_ORIGINS: the origin of PUBLIC_URL and,
 * for a tenant's own ceremonies, the origin of that tenant's appUrl — a frontend on the tenant's
 * app origin registers and signs in with passkeys with no more configuration. With
 * WEBAUTHN_ORIGINS: exactly that list. Checked through the server's verification, with a software
 * authenticator answering as a browser on the given origin would.
 */

const APP_ORIGIN = 'http://localhost:5173';
const START_REGISTRATION = 'mutation { startPasskeyRegistration { challengeId options } }';
const FINISH_REGISTRATION = `mutation F($input: FinishPasskeyRegistrationInput!) {
  finishPasskeyRegistration(input: $input) { id } }`;
const START_AUTHENTICATION = `mutation S($input: StartPasskeyAuthenticationInput!) {
  startPasskeyAuthentication(input: $input) { challengeId options } }`;
const FINISH_LOGIN = `mutation L($input: FinishPasskeyLoginInput!) {
  finishPasskeyLogin(input: $input) { accessToken user { id } } }`;

async function register(
  server: TestServer,
  user: SignedIn,
  authenticator: SoftwareAuthenticator,
  origin: string,
) {
  const started = await server.gql(START_REGISTRATION, {}, { token: user.accessToken });
  const { challengeId, options } = started.data?.startPasskeyRegistration ?? {};
  return server.gql(
    FINISH_REGISTRATION,
    { input: { challengeId, response: authenticator.create(options, origin) } },
    { token: user.accessToken },
  );
}

async function signIn(
  server: TestServer,
  tenant: string,
  authenticator: SoftwareAuthenticator,
  origin: string,
) {
  const started = await server.gql(START_AUTHENTICATION, { input: { tenant } });
  const { challengeId, options } = started.data?.startPasskeyAuthentication ?? {};
  return server.gql(FINISH_LOGIN, { input: { challengeId, response: authenticator.get(options, origin) } });
}

describe('passkey origins by default (WEBAUTHN_ORIGINS unset)', () => {
  const server = useTestServer({ PUBLIC_URL: 'http://localhost:8006' });

  it("accepts a registration and a sign-in from the tenant's appUrl origin", async () => {
    const tenant = await createTenant(server, { settings: { appUrl: `${APP_ORIGIN}/account` } });
    const user = await registerUser(server, tenant.slug);
    const authenticator = new SoftwareAuthenticator();
    const registered = await register(server, user, authenticator, APP_ORIGIN);
    expect(registered.errors).toBeUndefined();
    const signedIn = await signIn(server, tenant.slug, authenticator, APP_ORIGIN);
    expect(signedIn.errors).toBeUndefined();
    expect(signedIn.data?.finishPasskeyLogin.user.id).toBe(user.userId);
    // PUBLIC_URL's origin (the console) still works for the same tenant.
    const fromConsole = await signIn(server, tenant.slug, authenticator, 'http://localhost:8006');
    expect(fromConsole.errors).toBeUndefined();
  });

  it('refuses the app origin of another tenant, and any other origin', async () => {
    const other = await createTenant(server, { settings: { appUrl: 'https://other-app.test' } });
    const plain = await createTenant(server);
    for (const tenant of [other, plain]) {
      const user = await registerUser(server, tenant.slug);
      const refused = await register(server, user, new SoftwareAuthenticator(), APP_ORIGIN);
      expect(errorCode(refused), tenant.slug).toBe('BAD_USER_INPUT');
    }
    // A passkey registered in `other` from its own app origin signs in there, not from elsewhere.
    const user = await registerUser(server, other.slug);
    const authenticator = new SoftwareAuthenticator();
    expect((await register(server, user, authenticator, 'https://other-app.test')).errors).toBeUndefined();
    const elsewhere = await signIn(server, other.slug, authenticator, APP_ORIGIN);
    expect(errorCode(elsewhere)).toBeDefined();
    expect(elsewhere.data?.finishPasskeyLogin ?? null).toBeNull();
    expect(
      (await signIn(server, other.slug, authenticator, 'https://other-app.test')).errors,
    ).toBeUndefined();
  });
});

describe('passkey origins with WEBAUTHN_ORIGINS set', () => {
  const server = useTestServer({ WEBAUTHN_ORIGINS: 'https://admin.example.test' });

  it("takes exactly the list: the tenant's appUrl origin is not added", async () => {
    const tenant = await createTenant(server, { settings: { appUrl: APP_ORIGIN } });
    const user = await registerUser(server, tenant.slug);
    const refused = await register(server, user, new SoftwareAuthenticator(), APP_ORIGIN);
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    const listed = await register(server, user, new SoftwareAuthenticator(), 'https://admin.example.test');
    expect(listed.errors).toBeUndefined();
  });
});
