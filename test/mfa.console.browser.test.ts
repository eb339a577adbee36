import { type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type TestBrowser } from './support/browser.js';
import { createTenant, registerUser } from './support/fixtures.js';
import { totpCode } from './support/mfa.js';
import { useTestServer } from './support/server.js';

/**
 * The console and second factors, in headless Chromium: an ADMIN of a tenant that requires them
 * sets up an authenticator from the sign-in bar (the QR code drawn in the page), then signs in
 * again with a code. Nothing is loaded from anywhere but this server.
 */

const server = useTestServer();
let context: BrowserContext;
let browser: TestBrowser;

beforeAll(async () => {
  browser = await launchChromium({ viewport: { width: 1400, height: 860 } });
  context = browser.context;
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

describe('console sign-in bar with a second factor', () => {
  it('sets up an authenticator with a QR code, then asks for the code at the next sign-in', async () => {
    const tenant = await createTenant(server, { settings: { mfaRequiredForRoles: ['USER'] } });
    const user = await registerUser(server, tenant.slug);
    const page = await context.newPage();
    const urls: string[] = [];
    context.on('request', (request) => urls.push(request.url()));
    await page.goto(`${server.url}/graphql`);

    const signIn = async () => {
      await page.fill('#sign-in input[name=tenant]', tenant.slug);
      await page.fill('#sign-in input[name=email]', user.email);
      await page.fill('#sign-in input[name=password]', user.password);
      await page.click('#sign-in button[type=submit]');
    };
    await signIn();
    await page.waitForSelector(`#who:has-text("${user.email}")`);

    await page.click('#setup-totp');
    await page.waitForSelector('#totp-qr svg');
    const secret = (await page.textContent('#totp-secret'))?.trim() ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.fill('#totp-confirm input[name=code]', totpCode(secret, server.clock.now()));
    await page.click('#totp-confirm button[type=submit]');
    await page.waitForSelector('#recovery-codes:not([hidden])');
    const codes = ((await page.textContent('#recovery-codes')) ?? '').split('\n').filter(Boolean);
    expect(codes).toHaveLength(10);

    await page.click('#sign-out');
    await page.waitForSelector('#sign-in:not([hidden])');
    server.clock.advance(30_000);
    await signIn();
    await page.waitForSelector('#second-factor:not([hidden])');
    expect(await page.isHidden('#sign-in')).toBe(true);
    // A wrong code first: the bar says so and stays on the second step.
    const right = totpCode(secret, server.clock.now());
    await page.fill(
      '#second-factor input[name=code]',
      String((Number(right) + 1) % 1_000_000).padStart(6, '0'),
    );
    await page.click('#second-factor button[type=submit]');
    await page.waitForSelector('.message:has-text("not accepted")');
    await page.fill('#second-factor input[name=code]', right);
    await page.click('#second-factor button[type=submit]');
    await page.waitForSelector(`#who:has-text("${user.email}")`);

    const origin = new URL(server.url).origin;
    const elsewhere = urls.filter((url) => !url.startsWith(origin) && !url.startsWith('data:'));
    expect(elsewhere).toEqual([]);
    await page.close();
    // A browser, GraphiQL's 9 MB bundle and two sign-ins: slow on a busy machine.
  }, 120_000);
});
