import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type StaticSite, serveStatic, type TestBrowser } from './support/browser.js';
import { createTenant, registerUser, type SignedIn } from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/**
 * The client package's token manager in Chromium, in two tabs of one app (another origin than the
 * API) that share a session: refreshing in both tabs at once spends the refresh token once, because
 * the second tab waits for the first under a Web Lock and then takes the tokens it got.
 */

// The tabs share their tokens through a store both read: IndexedDB, whose committed writes every tab
// sees at once (localStorage reaches other tabs' processes later, so a tab could read the spent
// token after the lock).
const APP_PAGE = `<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
  import { TokenManager, MeDocument } from '/client.js';
  const db = await new Promise((resolve, reject) => {
    const opening = indexedDB.open('identity', 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore('session');
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
  const inTransaction = (mode, work) =>
    new Promise((resolve, reject) => {
      const transaction = db.transaction('session', mode);
      const request = work(transaction.objectStore('session'));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
    });
  const store = {
    load: async () => (await inTransaction('readonly', (session) => session.get('tokens'))) ?? null,
    save: async (tokens) => {
      await inTransaction('readwrite', (session) => (tokens ? session.put(tokens, 'tokens') : session.delete('tokens')));
    },
  };
  window.startApp = (api, useLocks) => {
    window.manager = new TokenManager({ url: api + '/graphql', store, ...(useLocks ? {} : { locks: null }) });
    window.signedOut = [];
    window.manager.on('signedOut', (reason) => window.signedOut.push(reason));
  };
  window.me = async () => (await window.manager.request(MeDocument)).me.email;
  window.ready = true;
</script>`;

const server = useTestServer();
let browser: TestBrowser;
let site: StaticSite;
let user: SignedIn;

beforeAll(async () => {
  const tenant = await createTenant(server);
  user = await registerUser(server, tenant.slug);
  // The package as a browser gets it: one ES module, graphql included.
  const bundle = await build({
    entryPoints: [new URL('../client/src/index.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  site = await serveStatic({
    '/': ['text/html; charset=utf-8', APP_PAGE],
    '/client.js': ['text/javascript; charset=utf-8', bundle.outputFiles[0]?.text ?? ''],
    '/favicon.ico': ['image/x-icon', ''],
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

async function openTab(useLocks: boolean): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${site.origin}/`);
  await page.waitForFunction('window.ready === true');
  await page.evaluate(`startApp(${JSON.stringify(server.url)}, ${useLocks})`);
  return page;
}

/** Refresh requests both tabs sent to the API. */
function countRefreshes(): { count(): number; stop(): void } {
  let refreshes = 0;
  const listener = (request: { method(): string; postData(): string | null }) => {
    if (request.method() === 'POST' && request.postData()?.includes('mutation Refresh')) refreshes += 1;
  };
  browser.context.on('request', listener);
  return { count: () => refreshes, stop: () => browser.context.off('request', listener) };
}

describe.each([
  { locks: true, refreshes: 1 },
  // The control: without the lock both tabs spend the token (the test can tell the difference).
  { locks: false, refreshes: 2 },
])('two tabs refreshing at once, Web Locks: $locks', ({ locks, refreshes }) => {
  it(`sends ${refreshes} refresh${refreshes > 1 ? 'es' : ''} and both tabs stay signed in`, async () => {
    const first = await openTab(locks);
    const second = await openTab(locks);
    await first.evaluate(
      `manager.signIn({ tenant: ${JSON.stringify(user.tenant)}, email: ${JSON.stringify(user.email)}, password: ${JSON.stringify(user.password)} })`,
    );
    expect(await second.evaluate('manager.resume()')).toBe(true);

    const counter = countRefreshes();
    await Promise.all([first.evaluate('manager.refresh()'), second.evaluate('manager.refresh()')]);
    counter.stop();
    expect(counter.count()).toBe(refreshes);

    // Both tabs hold the same, working tokens, and nobody was signed out.
    const [a, b] = await Promise.all([
      first.evaluate('manager.accessToken()'),
      second.evaluate('manager.accessToken()'),
    ]);
    if (locks) expect(a).toBe(b);
    expect(await first.evaluate('me()')).toBe(user.email);
    expect(await second.evaluate('me()')).toBe(user.email);
    expect(await first.evaluate('signedOut')).toEqual([]);
    expect(await second.evaluate('signedOut')).toEqual([]);
    await first.evaluate('manager.signOut()');
    await first.close();
    await second.close();
  });
});
