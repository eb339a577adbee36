import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type StaticSite, serveStatic, type TestBrowser } from './support/browser.js';
import { SYSTEM_ADMIN, type TestServer, useTestServer } from './support/server.js';

/**
 * A frontend on another origin (a dev server on http://localhost:<port>) calls the API at
 * http://127.0.0.1:<port> from a real Chromium: every request with a JSON body or an Authorization
 * header makes the browser send a CORS preflight first, and the console, on by default outside
 * production, must not stand in its way.
 */

const FRONTEND_PAGE = `<!doctype html><meta charset="utf-8"><title>frontend</title>
<script>
  // Sign in, then read me with the access token: both need a preflight.
  window.signInAndReadMe = async (api, tenant, email, password) => {
    const call = async (query, variables, token) => {
      const response = await fetch(api + '/graphql', {
        method: 'POST',
        headers: Object.assign({ 'content-type': 'application/json' }, token ? { authorization: 'Bearer ' + token } : {}),
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, requestId: response.headers.get('x-request-id'), body: await response.json() };
    };
    const login = await call(
      'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
      { input: { tenant, email, password } },
    );
    const me = await call('{ me { email role tenant { slug } } }', {}, login.body.data.login.accessToken);
    return { login: login.status, me };
  };
</script>`;

let browser: TestBrowser;
let site: StaticSite;
beforeAll(async () => {
  browser = await launchChromium();
  site = await serveStatic({
    '/': ['text/html; charset=utf-8', FRONTEND_PAGE],
    '/favicon.ico': ['image/x-icon', ''],
  });
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** The preflight a browser sends before a JSON POST with a token. */
function preflight(server: TestServer, origin: string): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization',
    },
  });
}

describe.each([
  { console: true, env: { GRAPHIQL: 'true' } },
  { console: false, env: { GRAPHIQL: 'false' } },
])('a frontend on another origin, console on: $console', ({ env, console: consoleOn }) => {
  const server = useTestServer(env);

  it('gets a CORS answer to its preflight', async () => {
    const response = await preflight(server, site.origin);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-methods')).toMatch(/\bPOST\b/);
    const allowed = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    expect(allowed).toContain('content-type');
    expect(allowed).toContain('authorization');
  });

  it('signs in and reads me from a page in Chromium', async () => {
    const page: Page = await browser.context.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') blocked.push(message.text());
    });
    const preflights: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'OPTIONS') preflights.push(request.url());
    });
    await page.goto(`${site.origin}/`);
    // (A string: the test's TypeScript has no DOM types.)
    const result = await page.evaluate(
      `signInAndReadMe(${JSON.stringify(server.url)}, 'system', ${JSON.stringify(SYSTEM_ADMIN.email)}, ${JSON.stringify(SYSTEM_ADMIN.password)})`,
    );
    expect(blocked).toEqual([]);
    expect(result).toMatchObject({
      login: 200,
      me: {
        status: 200,
        // Exposed to the page: a frontend can quote it in a bug report.
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        body: { data: { me: { email: SYSTEM_ADMIN.email, role: 'ADMIN', tenant: { slug: 'system' } } } },
      },
    });
    await page.close();
  });

  it(consoleOn ? 'still serves the console to a browser' : 'serves no console', async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    if (consoleOn) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    } else {
      expect(response.headers.get('content-type')).not.toMatch(/^text\/html/);
    }
  });
});

describe('every method of /graphql reaches the GraphQL endpoint, console on', () => {
  const server = useTestServer({ GRAPHIQL: 'true' });

  it('answers a query over GET (no browser page) and refuses other methods in GraphQL shape', async () => {
    const get = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const response = await fetch(`${server.url}/graphql`, {
        method,
        headers: { origin: 'http://localhost:1', 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      // Apollo's refusal (405), with the CORS header a browser needs to read it.
      expect(response.status, method).toBe(405);
      expect(response.headers.get('access-control-allow-origin'), method).toBe('*');
      expect(response.headers.get('allow'), method).toMatch(/POST/);
    }
  });
});
