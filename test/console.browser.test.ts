import { mkdirSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { parse, specifiedRules, validate } from 'graphql';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTabs } from '../src/app/console.page.js';
import { buildBaseSchema } from '../src/app/schema.js';
import { costLimitRule, MAX_COST } from '../src/modules/abuse/query-limits.js';
import { launchChromium, type TestBrowser } from './support/browser.js';
import { SYSTEM_ADMIN, startTestServer, useTestServer } from './support/server.js';

/**
 * The GraphiQL console in a real (headless) Chromium: Debian's /usr/bin/chromium driven by
 * playwright-core (`.ci/run` installs it). It signs in through the console's bar, runs the
 * default tab's `me`, and checks that nothing was requested from anywhere but this server.
 */

const RESULTS = join(import.meta.dirname, '..', 'test-results');
const server = useTestServer();
let context: BrowserContext;
let browser: TestBrowser;

beforeAll(async () => {
  browser = await launchChromium({ viewport: { width: 1400, height: 860 } });
  context = browser.context;
});
afterAll(async () => {
  await browser?.close();
});

/** Every URL the browser asked for (pages, workers, sockets), and every CSP violation. */
function recordTraffic(page: Page) {
  const urls: string[] = [];
  context.on('request', (request) => urls.push(request.url()));
  page.on('websocket', (socket) => urls.push(socket.url()));
  page.on('worker', (worker) => urls.push(worker.url()));
  return urls;
}

async function signIn(page: Page): Promise<void> {
  await page.fill('#sign-in input[name=email]', SYSTEM_ADMIN.email);
  await page.fill('#sign-in input[name=password]', SYSTEM_ADMIN.password);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector(`#who:has-text("${SYSTEM_ADMIN.email}")`);
}

describe('GraphiQL console', () => {
  it('signs an admin in, runs `me` from the default tab and loads nothing from elsewhere', async () => {
    const page = await context.newPage();
    const urls = recordTraffic(page);
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    // (A string: the test's TypeScript has no DOM types.)
    await page.addInitScript({
      content: `document.addEventListener('securitypolicyviolation', (event) =>
        console.error('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI));`,
    });

    const response = await page.goto(`${server.url}/graphql`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toMatch(/^text\/html/);

    // Sign in with the bar (the tenant is pre-filled with the system tenant).
    await expect.poll(() => page.inputValue('#sign-in input[name=tenant]')).toBe('system');
    await page.fill('#sign-in input[name=email]', SYSTEM_ADMIN.email);
    await page.fill('#sign-in input[name=password]', 'not the password');
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#console-bar .message:has-text("Invalid email or password")');
    await page.fill('#sign-in input[name=password]', SYSTEM_ADMIN.password);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector(`#who:has-text("${SYSTEM_ADMIN.email}")`);

    // The default tab is `query Me`: run it as it is.
    await page.waitForSelector('.graphiql-query-editor .view-lines:has-text("query Me")', {
      timeout: 20_000,
    });
    await page.click('.graphiql-execute-button');
    const result = page.locator('.graphiql-response');
    await expect.poll(() => result.textContent(), { timeout: 15_000 }).toContain(SYSTEM_ADMIN.email);
    // Monaco renders spaces as no-break spaces.
    const shown = ((await result.textContent()) ?? '').replace(/\s+/g, ' ');
    expect(shown).toContain('"role": "ADMIN"');
    expect(shown).toContain('"slug": "system"');

    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'console-me.png') });

    // Tokens stay out of localStorage; the refresh token is in this tab's sessionStorage only.
    const stored = await page.evaluate<{ local: string[][]; session: string[] }>(
      '({ local: Object.entries(localStorage), session: Object.keys(sessionStorage) })',
    );
    expect(stored.local).toEqual([]);
    expect(stored.session).toContain('identity-console:session');

    const origin = new URL(server.url);
    const local = (url: string) =>
      url.startsWith(`${origin.origin}/`) ||
      url.startsWith(`ws://${origin.host}/`) ||
      url.startsWith('data:') ||
      url.startsWith('blob:');
    expect(urls.length).toBeGreaterThan(5);
    expect(urls.filter((url) => !local(url))).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('runs a subscription over the WebSocket, signed in through connectionParams', async () => {
    const page = await context.newPage();
    const sent: string[] = [];
    const received: string[] = [];
    page.on('websocket', (socket) => {
      socket.on('framesent', (frame) => sent.push(String(frame.payload)));
      socket.on('framereceived', (frame) => received.push(String(frame.payload)));
    });
    // GraphiQL opens the operation given in ?query= (the console keeps that link working).
    const subscription = 'subscription Ended { sessionEnded { sessionId reason } }';
    await page.goto(`${server.url}/graphql?query=${encodeURIComponent(subscription)}`);
    await signIn(page);
    await page.waitForSelector('.graphiql-query-editor .view-lines:has-text("subscription Ended")', {
      timeout: 20_000,
    });
    await page.click('.graphiql-execute-button');
    await expect.poll(() => sent.join('\n'), { timeout: 10_000 }).toContain('"subscribe"');
    const init = JSON.parse(sent.find((frame) => frame.includes('connection_init')) ?? '{}');
    expect(init.payload.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    // The server accepted the connection (it closes unauthenticated ones with 4403 instead).
    expect(received.join('\n')).toContain('"connection_ack"');

    // Another session of the same admin ends: the event shows in the result pane. (Repeated until
    // it does: the server registers the subscription a moment after the subscribe message.)
    const ended: string[] = [];
    await expect
      .poll(
        async () => {
          const other = await server.gql(
            'mutation ($input: LoginInput!) { login(input: $input) { accessToken session { id } } }',
            { input: { tenant: 'system', email: SYSTEM_ADMIN.email, password: SYSTEM_ADMIN.password } },
          );
          ended.push(other.data?.login.session.id);
          await server.gql('mutation { logout }', {}, { token: other.data?.login.accessToken });
          return page.locator('.graphiql-response').textContent();
        },
        { timeout: 15_000, interval: 300 },
      )
      .toContain('LOGOUT');
    const shown = (await page.locator('.graphiql-response').textContent()) ?? '';
    expect(ended.some((id) => shown.includes(id))).toBe(true);
    await page.screenshot({ path: join(RESULTS, 'console-subscription.png') });
    await page.close();
  });

  it('renews the access token before it expires, uses the new one, and signs out', async () => {
    const page = await context.newPage();
    await page.clock.install();
    const tokens: string[] = [];
    const sent: string[] = [];
    page.on('response', async (response) => {
      const body = response.request().postData() ?? '';
      if (!/ConsoleSignIn|ConsoleRefresh/.test(body)) return;
      const data = (await response.json()).data;
      tokens.push((data.login ?? data.refresh).accessToken);
    });
    page.on('request', (request) => {
      const authorization = request.headers().authorization;
      if (authorization && /query Me/.test(request.postData() ?? '')) sent.push(authorization);
    });
    await page.goto(`${server.url}/graphql`);
    await signIn(page);
    await expect.poll(() => tokens.length).toBe(1);

    // Access tokens live 15 minutes here: the console renews a minute before.
    await page.clock.fastForward('14:10');
    await expect.poll(() => tokens.length, { timeout: 10_000 }).toBe(2);
    expect(tokens[1]).not.toBe(tokens[0]);

    await page.waitForSelector('.graphiql-query-editor .view-lines:has-text("query Me")', {
      timeout: 20_000,
    });
    await page.click('.graphiql-execute-button');
    await expect.poll(() => page.locator('.graphiql-response').textContent()).toContain(SYSTEM_ADMIN.email);
    expect(sent).toEqual([`Bearer ${tokens[1]}`]);

    const signedOut = page.waitForResponse((response) =>
      /ConsoleSignOut/.test(response.request().postData() ?? ''),
    );
    await page.click('#sign-out');
    expect(await (await signedOut).json()).toEqual({ data: { logout: true } });
    await page.waitForSelector('#sign-in:visible');
    expect(await page.evaluate("sessionStorage.getItem('identity-console:session')")).toBeNull();
    const me = await server.gql('{ me { id } }', {}, { token: tokens[1] });
    expect(me.status).toBe(401);
    await page.close();
  });
});

describe('GET /graphql for API clients', () => {
  it('still reaches Apollo; in production the console is served only with GRAPHIQL=true', async () => {
    const api = await fetch(`${server.url}/graphql?query=%7B__typename%7D`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({ data: { __typename: 'Query' } });

    for (const [env, served] of [
      [{ NODE_ENV: 'production' }, false],
      [{ NODE_ENV: 'production', GRAPHIQL: 'true' }, true],
      [{ GRAPHIQL: 'false' }, false],
    ] as const) {
      const other = await startTestServer(env);
      try {
        const page = await fetch(`${other.url}/graphql`, { headers: { accept: 'text/html' } });
        expect((await page.text()).includes('id="console-config"'), JSON.stringify(env)).toBe(served);
      } finally {
        await other.close();
      }
    }
  });
});

describe("the console's page and files", () => {
  it('links its files relative to the page, and serves them compressed, immutable and revalidated', async () => {
    for (const [path, prefix] of [
      ['/graphql', 'graphql/console/'],
      ['/graphql/', 'console/'],
    ]) {
      const page = await fetch(`${server.url}${path}`, { headers: { accept: 'text/html' } });
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await page.text();
      const script = new RegExp(`src="(${prefix}graphiql\\.[\\w-]+\\.js)"`).exec(html)?.[1];
      expect(script, path).toBeDefined();
      const asset = await fetch(new URL(script ?? '', `${server.url}${path}`), {
        headers: { 'accept-encoding': 'gzip' },
      });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-encoding')).toBe('gzip');
      expect(asset.headers.get('cache-control')).toContain('immutable');
      expect((await asset.text()).length).toBeGreaterThan(1_000_000);
      // (fetch() adds cache-control: no-cache to conditional requests, which disables them.)
      const again = await new Promise<number | undefined>((resolve, reject) => {
        const url = new URL(script ?? '', `${server.url}${path}`);
        get(url, { headers: { 'if-none-match': asset.headers.get('etag') ?? '' } }, (response) => {
          response.resume();
          resolve(response.statusCode);
        }).on('error', reject);
      });
      expect(again).toBe(304);
    }
    expect((await fetch(`${server.url}/graphql/console/nothing.js`)).status).not.toBe(200);
  });
});

describe("the console's default tabs", () => {
  it('hold only operations the server accepts (valid, and within the cost limit)', async () => {
    const schema = await buildBaseSchema();
    const tabs = defaultTabs(schema, 'system');
    expect(tabs.length).toBeGreaterThanOrEqual(4);
    for (const tab of tabs) {
      const errors = validate(schema, parse(tab.query), [...specifiedRules, costLimitRule(MAX_COST)]);
      expect(
        errors.map((error) => error.message),
        tab.query,
      ).toEqual([]);
      if (tab.variables) expect(() => JSON.parse(tab.variables ?? '')).not.toThrow();
    }
  });
});
