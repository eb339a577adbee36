import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { passkeys } from '../src/db/schema.js';
import { launchChromium, type TestBrowser } from './support/browser.js';
import { createTenant, registerUser, type SignedIn } from './support/fixtures.js';
import { COMPLETE_MFA_LOGIN, jwtClaims, MY_MFA, passwordStep } from './support/mfa.js';
import { errorCode, startTestServer, type TestServer } from './support/server.js';

/**
 * Passkeys in a real browser: Debian's headless Chromium with the DevTools Protocol's virtual
 * authenticator (CTAP2, built in, resident keys, user verification) answering
 * navigator.credentials.create/get on a page this test serves on http://localhost:<port>, with
 * the options the API hands out. Registration, a usernameless sign-in, and the second step of a
 * password sign-in.
 */

/** The relying party's page: the two WebAuthn calls, with the JSON forms of WebAuthn Level 3. */
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>passkeys</title></head><body>
<script>
  window.createCredential = async (options) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    return (await navigator.credentials.create({ publicKey })).toJSON();
  };
  window.getCredential = async (options) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    return (await navigator.credentials.get({ publicKey })).toJSON();
  };
</script></body></html>`;

let site: Server;
let origin: string;
let server: TestServer;
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;
let authenticatorId: string;
let browser: TestBrowser;
let tenantSlug: string;

beforeAll(async () => {
  site = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(PAGE);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  origin = `http://localhost:${(site.address() as AddressInfo).port}`;
  server = await startTestServer({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin });
  tenantSlug = (await createTenant(server)).slug;
  browser = await launchChromium();
  context = browser.context;
  page = await context.newPage();
  await page.goto(`${origin}/`);
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  }));
}, 120_000);
// Each test starts with an empty authenticator, so a usernameless request has one passkey to offer.
beforeEach(async () => {
  await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await new Promise((resolve) => site?.close(resolve));
});

const START_REGISTRATION = 'mutation { startPasskeyRegistration { challengeId options } }';
const FINISH_REGISTRATION = `mutation F($input: FinishPasskeyRegistrationInput!) {
  finishPasskeyRegistration(input: $input) { id name createdAt lastUsedAt } }`;
const START_AUTHENTICATION = `mutation S($input: StartPasskeyAuthenticationInput!) {
  startPasskeyAuthentication(input: $input) { challengeId options } }`;
const FINISH_LOGIN = `mutation L($input: FinishPasskeyLoginInput!) {
  finishPasskeyLogin(input: $input) { accessToken refreshToken user { id email } } }`;

function createCredential(options: unknown): Promise<Record<string, unknown>> {
  return page.evaluate(
    (o) => (globalThis as never as { createCredential(o: unknown): unknown }).createCredential(o),
    options,
  ) as never;
}

function getCredential(options: unknown): Promise<Record<string, unknown>> {
  return page.evaluate(
    (o) => (globalThis as never as { getCredential(o: unknown): unknown }).getCredential(o),
    options,
  ) as never;
}

/** Registers a passkey for a signed-in user through the browser; returns the API's Passkey. */
async function addPasskey(user: SignedIn, name?: string) {
  const started = await server.gql(START_REGISTRATION, {}, { token: user.accessToken });
  const { challengeId, options } = started.data?.startPasskeyRegistration ?? {};
  expect(options.rp.id).toBe('localhost');
  expect(options.authenticatorSelection.residentKey).toBe('required');
  const response = await createCredential(options);
  const finished = await server.gql(
    FINISH_REGISTRATION,
    { input: { challengeId, response, name } },
    { token: user.accessToken },
  );
  expect(finished.errors).toBeUndefined();
  return { passkey: finished.data?.finishPasskeyRegistration, challengeId, response };
}

describe('passkeys in Chromium', () => {
  it('registers a passkey once per challenge, and the account then has a second factor', async () => {
    const user = await registerUser(server, tenantSlug);
    const { passkey, challengeId, response } = await addPasskey(user, 'Laptop');
    expect(passkey).toMatchObject({ name: 'Laptop', lastUsedAt: null });
    const status = await server.gql(
      `${MY_MFA.slice(0, -1)} me { mfaEnabled } }`,
      {},
      { token: user.accessToken },
    );
    expect(status.data?.myMfa.passkeys).toEqual([passkey]);
    expect(status.data?.me.mfaEnabled).toBe(true);
    // The challenge was used: the same response again is refused.
    const again = await server.gql(
      FINISH_REGISTRATION,
      { input: { challengeId, response } },
      { token: user.accessToken },
    );
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
  });

  it('signs in without a password or a username, once per assertion, and only in its own tenant', async () => {
    const user = await registerUser(server, tenantSlug);
    await addPasskey(user);
    const started = await server.gql(START_AUTHENTICATION, { input: { tenant: tenantSlug } });
    const { challengeId, options } = started.data?.startPasskeyAuthentication ?? {};
    expect(options.rpId).toBe('localhost');
    expect(options.allowCredentials ?? []).toEqual([]);
    const response = await getCredential(options);
    const signedIn = await server.gql(FINISH_LOGIN, { input: { challengeId, response } });
    expect(signedIn.errors).toBeUndefined();
    expect(signedIn.data?.finishPasskeyLogin.user.id).toBe(user.userId);
    const amr = jwtClaims(signedIn.data?.finishPasskeyLogin.accessToken).amr as string[];
    expect(amr.some((value) => value === 'hwk' || value === 'swk')).toBe(true);
    expect(amr).not.toContain('pwd');

    // The same assertion again (a replay) is refused.
    const replay = await server.gql(FINISH_LOGIN, { input: { challengeId, response } });
    expect(errorCode(replay)).toBe('UNAUTHENTICATED');

    // Another tenant on the same relying party does not know the credential.
    const other = await createTenant(server);
    const elsewhere = await server.gql(START_AUTHENTICATION, { input: { tenant: other.slug } });
    const foreign = await getCredential(elsewhere.data?.startPasskeyAuthentication.options);
    const refused = await server.gql(FINISH_LOGIN, {
      input: { challengeId: elsewhere.data?.startPasskeyAuthentication.challengeId, response: foreign },
    });
    expect(errorCode(refused)).toBe('UNAUTHENTICATED');

    // The signature counter moved on with each use.
    const [row] = await server.testDatabase.database.db
      .select({ signCount: passkeys.signCount, lastUsedAt: passkeys.lastUsedAt })
      .from(passkeys)
      .where(eq(passkeys.userId, user.userId));
    expect(row?.signCount).toBeGreaterThan(0);
    expect(row?.lastUsedAt).not.toBeNull();
  });

  it('is the second step of a password sign-in', async () => {
    const user = await registerUser(server, tenantSlug);
    await addPasskey(user);
    const { mfaToken, methods } = await passwordStep(server, user);
    expect(methods).toEqual(['PASSKEY']);
    const started = await server.gql(START_AUTHENTICATION, { input: { mfaToken } });
    const { challengeId, options } = started.data?.startPasskeyAuthentication ?? {};
    expect(options.allowCredentials).toHaveLength(1);
    const passkeyResponse = await getCredential(options);
    const done = await server.gql(COMPLETE_MFA_LOGIN, {
      input: { mfaToken, method: 'PASSKEY', challengeId, passkeyResponse },
    });
    expect(done.errors).toBeUndefined();
    expect(done.data?.completeMfaLogin.user.id).toBe(user.userId);
    const amr = jwtClaims(done.data?.completeMfaLogin.accessToken).amr as string[];
    expect(amr[0]).toBe('pwd');
    expect(amr).toContain('mfa');
    expect(amr.some((value) => value === 'hwk' || value === 'swk')).toBe(true);

    // A passkey of another account does not finish this one's sign-in.
    const stranger = await registerUser(server, tenantSlug);
    await addPasskey(stranger);
    const second = await passwordStep(server, user);
    const start2 = await server.gql(START_AUTHENTICATION, { input: { mfaToken: second.mfaToken } });
    const usernameless = await server.gql(START_AUTHENTICATION, { input: { tenant: tenantSlug } });
    // An assertion for another challenge (and by the stranger's newest credential) is refused.
    const wrong = await getCredential(usernameless.data?.startPasskeyAuthentication.options);
    const refused = await server.gql(COMPLETE_MFA_LOGIN, {
      input: {
        mfaToken: second.mfaToken,
        method: 'PASSKEY',
        challengeId: start2.data?.startPasskeyAuthentication.challengeId,
        passkeyResponse: wrong,
      },
    });
    expect(errorCode(refused)).toBe('UNAUTHENTICATED');
  });

  it('deletes a passkey; with none left the account has no second factor', async () => {
    const user = await registerUser(server, tenantSlug);
    const { passkey } = await addPasskey(user);
    const removed = await server.gql(
      'mutation D($id: ID!) { deletePasskey(id: $id) }',
      { id: passkey.id },
      { token: user.accessToken },
    );
    expect(removed.data?.deletePasskey).toBe(true);
    const status = await server.gql(
      '{ me { mfaEnabled } myMfa { passkeys { id } } }',
      {},
      { token: user.accessToken },
    );
    expect(status.data).toEqual({ me: { mfaEnabled: false }, myMfa: { passkeys: [] } });
    const again = await server.gql(
      'mutation D($id: ID!) { deletePasskey(id: $id) }',
      { id: passkey.id },
      { token: user.accessToken },
    );
    expect(errorCode(again)).toBe('NOT_FOUND');
  });
});
