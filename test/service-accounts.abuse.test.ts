import { beforeAll, describe, expect, it } from 'vitest';
import { makeTenant, ok, PASSWORD, signInSystemAdmin, type TenantHandle } from './support/fixtures.js';
import { basicAuth, makeServiceAccount, postForm, useOAuthServer } from './support/oauth.js';

/**
 * Budgets of the OAuth endpoints: a failed client authentication draws on the caller's per-IP
 * sign-in budget (RATE_LIMIT_AUTH_PER_MINUTE); a client that authenticates draws on a budget of
 * its own (RATE_LIMIT_CLIENT_PER_MINUTE), never on the sign-in budget of its address.
 */

const IP_BUDGET = 3;
const CLIENT_BUDGET = 5;
const server = useOAuthServer({
  RATE_LIMIT_AUTH_PER_MINUTE: String(IP_BUDGET),
  RATE_LIMIT_CLIENT_PER_MINUTE: String(CLIENT_BUDGET),
  TRUST_PROXY: 'true',
});
let tenant: TenantHandle;
let address = 0;

beforeAll(async () => {
  const system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
}, 60_000);

/** A client address nobody has used yet (TEST-NET-2). */
function freshIp(): string {
  address += 1;
  return `198.51.100.${address}`;
}

function grant(clientId: string, secret: string, ip: string) {
  return postForm(
    server,
    '/oauth/token',
    { grant_type: 'client_credentials' },
    { authorization: basicAuth(clientId, secret), 'x-forwarded-for': ip },
  );
}

describe('budgets of the OAuth endpoints', () => {
  it("failed client authentications spend the address's sign-in budget; a right secret still works", async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const ip = freshIp();
    for (let i = 0; i < IP_BUDGET; i++) {
      expect((await grant(account.clientId, 'wrong', ip)).status).toBe(401);
    }
    const limited = await grant(account.clientId, 'wrong', ip);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // The address's sign-ins are refused too: it is the same budget.
    const login = await server.gql(
      'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
      { input: { tenant: tenant.slug, email: tenant.admin.email, password: PASSWORD } },
      { headers: { 'x-forwarded-for': ip } },
    );
    expect(login.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    // A client that proves itself is not held to it.
    expect((await grant(account.clientId, account.clientSecret, ip)).status).toBe(200);
  });

  it('an authenticated client has a budget of its own, and spends no sign-in budget', async () => {
    const busy = await makeServiceAccount(server, tenant.admin, ['users:read', 'tokens:introspect']);
    const neighbour = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const ip = freshIp();
    for (let i = 0; i < CLIENT_BUDGET; i++) {
      expect((await grant(busy.clientId, busy.clientSecret, ip)).status).toBe(200);
    }
    const limited = await grant(busy.clientId, busy.clientSecret, ip);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Introspection by the same client draws on the same budget.
    const introspection = await postForm(
      server,
      '/oauth/introspect',
      { token: 'x' },
      { authorization: basicAuth(busy.clientId, busy.clientSecret), 'x-forwarded-for': ip },
    );
    expect(introspection.status).toBe(429);
    // Another client behind the same address, and the address's people, are unaffected.
    expect((await grant(neighbour.clientId, neighbour.clientSecret, ip)).status).toBe(200);
    ok(
      await server.gql(
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
        { input: { tenant: tenant.slug, email: tenant.admin.email, password: PASSWORD } },
        { headers: { 'x-forwarded-for': ip } },
      ),
    );
  });
});
