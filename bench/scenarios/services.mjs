// Service callers: the client credentials grant, token introspection, and a GraphQL query
// authenticated by an API key, each against the ceiling.
import { activeUsers, sampleUserIds } from '../lib/data.mjs';
import { gqlOk, signIn } from '../lib/gql.mjs';
import {
  alternate,
  ceilingRows,
  ceilingVariants,
  row,
  serviceRun,
  summarize,
  target,
  versusCeilings,
} from '../lib/harness.mjs';
import { gqlRequest } from '../lib/load.mjs';
import { verifyRequests } from './common.mjs';

const CONNECTIONS = 10;
// The per-client budget (RATE_LIMIT_CLIENT_PER_MINUTE, default 3,000/min) would cut a benchmark
// short: the scenarios measure the work of a request, not the budget's refusals.
const SERVICE_ENV = { RATE_LIMIT_CLIENT_PER_MINUTE: '10000000' };
const CREATE = `mutation ($input: CreateServiceAccountInput!) {
  createServiceAccount(input: $input) { clientId clientSecret serviceAccount { id } }
}`;
const CREATE_KEY = 'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }';
const USER_BY_ID = 'query ($id: ID!) { user(id: $id) { id email role status } }';

/** RFC 6749 §2.3.1: each part form-url-encoded, then Base64. */
function basic(clientId, secret) {
  const encode = (value) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

/** `count` service accounts of the small tenant, created by its ADMIN through the API. */
async function serviceAccounts(ctx, service, count, scopes) {
  const [admin] = await signIn(
    service.graphql,
    ctx.data.small.slug,
    [{ email: ctx.data.small.admin }],
    ctx.data.password,
  );
  const accounts = [];
  for (let i = 0; i < count; i++) {
    const data = await gqlOk(
      service.graphql,
      CREATE,
      { input: { name: `bench-${i}`, scopes } },
      { token: admin.token },
    );
    accounts.push({ ...data.createServiceAccount, id: data.createServiceAccount.serviceAccount.id });
  }
  return { admin, accounts };
}

function formRequest(path, form, authorization) {
  return {
    method: 'POST',
    path,
    body: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
  };
}

/** Sends some requests once; each must answer 200 and pass `check` (JSON body). */
async function verifyForms(baseUrl, requests, check) {
  for (const request of requests.slice(0, 20)) {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.status !== 200 || !check(body)) {
      throw new Error(`pre-flight check failed: HTTP ${response.status} ${text.slice(0, 400)}`);
    }
  }
}

async function grantToken(baseUrl, account) {
  const response = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic(account.clientId, account.clientSecret),
    },
    body: 'grant_type=client_credentials',
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`grant failed: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** The service's requests vs the ceiling, A/B in rounds; one target ratio. */
async function versusCeiling(ctx, service, requests, label, goal) {
  const runs = await alternate(ctx, [
    ...ceilingVariants(ctx, CONNECTIONS),
    {
      key: `${label} c${CONNECTIONS}`,
      run: (d) => serviceRun(service, { connections: CONNECTIONS, durationSec: d, requests }),
    },
  ]);
  const measured = summarize(runs[`${label} c${CONNECTIONS}`]);
  const versus = versusCeilings(runs[`${label} c${CONNECTIONS}`], runs, CONNECTIONS);
  const { ratio } = versus;
  return {
    rows: [...ceilingRows(runs, CONNECTIONS), row(label, CONNECTIONS, measured, versus)],
    targets: [
      target(
        `${label} req/s at ${CONNECTIONS} connections`,
        `≥ ${goal} × standalone ceiling`,
        `${ratio.toFixed(2)} ×`,
        ratio >= goal,
      ),
    ],
  };
}

export const clientCredentials = {
  name: 'client-credentials',
  title: '`POST /oauth/token` (client_credentials, client_secret_basic): a signed RFC 9068 token per request',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('client-credentials', SERVICE_ENV);
    const { accounts } = await serviceAccounts(ctx, service, ctx.smoke ? 5 : 20, ['users:read']);
    const requests = accounts.map((a) =>
      formRequest('/oauth/token', { grant_type: 'client_credentials' }, basic(a.clientId, a.clientSecret)),
    );
    await verifyForms(service.url, requests, (body) => typeof body?.access_token === 'string');
    const { rows, targets } = await versusCeiling(ctx, service, requests, 'client credentials grant', 0.3);
    return {
      rows,
      targets,
      notes: [
        `${accounts.length} service accounts in turn; each grant checks the secret (HMAC-SHA-256 with the pepper, against the cached hashes), the account and the tenant, and the per-client budget, then signs a JWT. Issuance is counted in memory and audited once a minute per account.`,
      ],
    };
  },
};

export const introspect = {
  name: 'introspect',
  title: "`POST /oauth/introspect` of live access tokens (people's and services')",
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('introspect', SERVICE_ENV);
    const { accounts } = await serviceAccounts(ctx, service, ctx.smoke ? 3 : 5, [
      'users:read',
      'tokens:introspect',
    ]);
    const users = await activeUsers(ctx.sql, ctx.data.small.id, ctx.smoke ? 20 : 100);
    const sessions = await signIn(service.graphql, ctx.data.small.slug, users, ctx.data.password);
    const serviceTokens = [];
    for (const account of accounts) serviceTokens.push(await grantToken(service.url, account));
    const tokens = [...sessions.map((s) => s.token), ...serviceTokens];
    const requests = tokens.map((token, i) => {
      const caller = accounts[i % accounts.length];
      return formRequest('/oauth/introspect', { token }, basic(caller.clientId, caller.clientSecret));
    });
    await verifyForms(
      service.url,
      [...requests.slice(0, 10), ...requests.slice(-accounts.length)],
      (body) => body?.active === true,
    );
    const { rows, targets } = await versusCeiling(ctx, service, requests, 'introspection', 0.5);
    return {
      rows,
      targets,
      notes: [
        `${sessions.length} people's and ${serviceTokens.length} services' access tokens, introspected by ${accounts.length} clients in turn: client authentication, the token's signature, and its session, user, tenant (or account) as they are now, all from the caches.`,
      ],
    };
  },
};

export const apiKey = {
  name: 'api-key',
  title: '`{ user(id) { id email role status } }` authenticated by an API key (`Bearer idk_…`)',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('api-key', SERVICE_ENV);
    const { admin, accounts } = await serviceAccounts(ctx, service, ctx.smoke ? 5 : 20, ['users:read']);
    const keys = [];
    for (const account of accounts) {
      const data = await gqlOk(
        service.graphql,
        CREATE_KEY,
        { input: { serviceAccountId: account.id, name: 'bench' } },
        { token: admin.token },
      );
      keys.push(data.createApiKey.key);
    }
    const ids = await sampleUserIds(ctx.sql, ctx.data.small.id, ctx.smoke ? 50 : 200);
    const requests = ids.map((id, i) =>
      gqlRequest(USER_BY_ID, { id }, { authorization: `Bearer ${keys[i % keys.length]}` }),
    );
    // The same query by the tenant's ADMIN with an access token: what the API key itself costs.
    const byUser = ids.map((id) =>
      gqlRequest(USER_BY_ID, { id }, { authorization: `Bearer ${admin.token}` }),
    );
    const isUser = (data) => typeof data.user?.id === 'string';
    await verifyRequests(service.graphql, requests, isUser);
    await verifyRequests(service.graphql, byUser, isUser);
    const label = '`user(id)` by API key';
    const c = CONNECTIONS;
    const runs = await alternate(ctx, [
      ...ceilingVariants(ctx, c),
      { key: `api key c${c}`, run: (d) => serviceRun(service, { connections: c, durationSec: d, requests }) },
      {
        key: `access token c${c}`,
        run: (d) => serviceRun(service, { connections: c, durationSec: d, requests: byUser }),
      },
    ]);
    const versus = versusCeilings(runs[`api key c${c}`], runs, c);
    const { ratio } = versus;
    const byToken = versusCeilings(runs[`access token c${c}`], runs, c);
    const userRatio = byToken.ratio;
    return {
      rows: [
        ...ceilingRows(runs, c),
        row(label, c, summarize(runs[`api key c${c}`]), versus),
        row("`user(id)` by an ADMIN's access token", c, summarize(runs[`access token c${c}`]), byToken),
      ],
      targets: [
        target(
          `${label} req/s at ${c} connections`,
          '≥ 0.6 × standalone ceiling',
          `${ratio.toFixed(2)} ×`,
          ratio >= 0.6,
        ),
      ],
      notes: [
        `${keys.length} API keys and ${ids.length} users of the small tenant in turn; each request hashes the key (HMAC-SHA-256), finds it and its account in the in-process cache, and reads the user through the loaders. The same requests with an ADMIN's access token, side by side, show what the API key itself costs: ${userRatio.toFixed(2)} × the ceiling.`,
      ],
    };
  },
};
