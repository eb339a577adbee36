import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openConsoleTab, type TestBrowser } from './support/browser.js';
import { ok, signInSystemAdmin } from './support/fixtures.js';
import { basicAuth, postForm, startOAuthServer } from './support/oauth.js';
import { SYSTEM_ADMIN, type TestServer } from './support/server.js';

/**
 * The console's service-account tab in a real Chromium: an ADMIN signs in with the bar, opens the
 * tab, runs it as it is, and copies the client credentials from the answer, the only place they
 * are ever shown; a client credentials grant with them works.
 */

const RESULTS = join(import.meta.dirname, '..', 'test-results');

let server: TestServer;
let browser: TestBrowser;

beforeAll(async () => {
  server = await startOAuthServer();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the console: creating a service account', () => {
  it('an ADMIN creates one from its default tab and copies its credentials once', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1400, height: 900 });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));

    await page.goto(`${server.url}/graphql`);
    await page.fill('#sign-in input[name=email]', SYSTEM_ADMIN.email);
    await page.fill('#sign-in input[name=password]', SYSTEM_ADMIN.password);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector(`#who:has-text("${SYSTEM_ADMIN.email}")`);

    // GraphiQL opens on the first tab; the service account's is named after its operation.
    await page.waitForSelector('.graphiql-query-editor .view-lines:has-text("query Me")', {
      timeout: 20_000,
    });
    await openConsoleTab(page, 'CreateServiceAccount');
    // GraphiQL parses a tab's document a moment after the tab opens; ▶ pressed before that sends
    // the previous tab's operation name ("Cannot infer operation Me", nothing runs), so it is
    // pressed again until the answer is the new service account's.
    const result = page.locator('.graphiql-response');
    await expect
      .poll(
        async () => {
          const shown = (await result.textContent()) ?? '';
          if (shown.includes('clientSecret')) return shown;
          await page.click('.graphiql-execute-button');
          await result
            .filter({ hasText: /clientSecret|errors/ })
            .waitFor({ timeout: 3_000 })
            .catch(() => {});
          return (await result.textContent()) ?? '';
        },
        { timeout: 30_000, interval: 500 },
      )
      .toContain('clientSecret');
    // Monaco renders spaces as no-break spaces.
    const shown = ((await result.textContent()) ?? '').replace(/\s+/g, ' ');
    const clientId = /"clientId": "([^"]+)"/.exec(shown)?.[1];
    const clientSecret = /"clientSecret": "([^"]+)"/.exec(shown)?.[1];
    expect(clientId).toBeDefined();
    expect(clientSecret).toBeDefined();
    expect(shown).toContain('"name": "reporting"');
    expect(shown).toContain('"users:read"');
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'console-service-account.png') });

    // The copied credentials work: a client credentials grant answers a token for that account.
    const grant = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(clientId ?? '', clientSecret ?? '') },
    );
    expect(grant.status).toBe(200);
    expect(grant.body?.scope).toBe('users:read');
    const token = grant.body?.access_token as string;
    const viewer = ok(await server.gql('{ viewer { serviceAccount { clientId name } } }', {}, { token }));
    expect(viewer.viewer.serviceAccount).toEqual({ clientId, name: 'reporting' });

    // Shown once: nothing the API answers later holds the secret.
    const admin = await signInSystemAdmin(server);
    const listed = await server.gql(
      '{ serviceAccounts(first: 20) { nodes { id clientId secrets { hint } } } }',
      {},
      { token: admin.token },
    );
    expect(JSON.stringify(listed)).toContain(clientId);
    expect(JSON.stringify(listed)).not.toContain(clientSecret);
    expect(problems).toEqual([]);
    await page.close();
  });
});
