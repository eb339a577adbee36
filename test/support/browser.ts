import { createServer, type Server } from 'node:http';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { tempDir } from './process.js';
import { CHROMIUM_PROGRAM, requireProgram } from './system.js';

/**
 * Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) driven by playwright-core: no browser is
 * ever downloaded. test/global-setup.ts installs Debian's package when a browser test is about to
 * run as root and it is missing; otherwise a missing Chromium fails the test with one line naming
 * the package.
 */
export function chromiumPath(): string {
  return requireProgram(CHROMIUM_PROGRAM);
}

// Without the background-networking flags Chromium keeps trying to reach Google's services.
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  /** One profile: its pages are tabs of one browser, sharing storage and Web Locks. */
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless Chromium with a fresh, empty profile. */
export async function launchChromium(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<TestBrowser> {
  const profile = tempDir('chromium-profile-');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_FLAGS,
    ...options,
  });
  return {
    context,
    async close() {
      await context.close();
      profile.remove();
    },
  };
}

export interface StaticSite {
  /** http://localhost:<port>: another origin than the API's http://127.0.0.1:<port>. */
  origin: string;
  close(): Promise<void>;
}

/** Serves fixed files (path -> [content type, body]) on a port of its own, as a frontend's dev server would. */
export async function serveStatic(files: Record<string, [type: string, body: string]>): Promise<StaticSite> {
  const server: Server = createServer((req, res) => {
    const file = files[(req.url ?? '/').split('?', 1)[0] ?? '/'];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Opens the GraphiQL console's default tab whose first operation is `name`: clicks it until
 * GraphiQL has selected it and the editor shows that operation.
 */
export async function openConsoleTab(page: Page, name: string): Promise<void> {
  const tab = page.locator(`.graphiql-tab:has(.graphiql-tab-button[title="${name}"])`);
  await expect
    .poll(
      async () => {
        await tab.locator('.graphiql-tab-button').click();
        return tab.getAttribute('aria-selected');
      },
      { timeout: 20_000, interval: 500 },
    )
    .toBe('true');
  await page.waitForSelector(`.graphiql-query-editor .view-lines:has-text("${name}")`, { timeout: 20_000 });
}
