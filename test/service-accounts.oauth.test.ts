import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Actor, makeTenant, ok, signInSystemAdmin, type TenantHandle } from './support/fixtures.js';
import {
  basicAuth,
  discover,
  makeServiceAccount,
  postForm,
  type ServiceAccountHandle,
  useOAuthServer,
} from './support/oauth.js';

/**
 * The OAuth 2.0 side of service accounts, driven by a real client library (openid-client):
 * discovery, the client credentials grant, introspection and revocation, over real HTTP.
 */

/** openid-client reports a 401 with a Basic challenge as a challenge error: its parameters name the error. */
function isInvalidClient(error: unknown): boolean {
  const e = error as { error?: string; cause?: { parameters?: { error?: string } }[] };
  return (e.error ?? e.cause?.[0]?.parameters?.error) === 'invalid_client';
}

const server = useOAuthServer();
let system: Actor;
let tenant: TenantHandle;
let account: ServiceAccountHandle;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
  account = await makeServiceAccount(server, tenant.admin, ['users:read', 'tokens:introspect']);
}, 60_000);

describe('discovery', () => {
  it('publishes the same metadata at both well-known addresses, issuer = PUBLIC_URL', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('public, max-age=300');
      const metadata = (await response.json()) as Record<string, unknown>;
      expect(metadata).toMatchObject({
        issuer: server.url,
        jwks_uri: `${server.url}/.well-known/jwks.json`,
        token_endpoint: `${server.url}/oauth/token`,
        introspection_endpoint: `${server.url}/oauth/introspect`,
        revocation_endpoint: `${server.url}/oauth/revoke`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        response_types_supported: [],
      });
      expect(metadata.scopes_supported).toEqual([
        'users:read',
        'users:write',
        'sessions:read',
        'sessions:revoke',
        'tenant:read',
        'audit:read',
        'tokens:introspect',
        'invitations:write',
      ]);
    }
  });
});

describe('client credentials grant', () => {
  for (const method of ['basic', 'post'] as const) {
    it(`issues an RFC 9068 JWT verifiable with the JWKS (client_secret_${method})`, async () => {
      const config = await discover(server, account, method);
      const tokens = await client.clientCredentialsGrant(config);
      expect(tokens.token_type.toLowerCase()).toBe('bearer');
      expect(tokens.expires_in).toBeGreaterThan(0);
      expect(tokens.scope).toBe('users:read tokens:introspect');
      expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
      const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(tokens.access_token, jwks, {
        issuer: server.url,
        audience: server.config.jwt.audience,
        typ: 'at+jwt',
        currentDate: server.clock.now(),
      });
      expect(payload).toMatchObject({
        sub: account.id,
        client_id: account.clientId,
        tid: tenant.id,
        scope: 'users:read tokens:introspect',
      });
      expect(payload.sid).toBeUndefined();
      expect(payload.role).toBeUndefined();
      expect(typeof payload.jti).toBe('string');
    });
  }

  it('narrows the scopes to the ones asked for, and refuses one the account lacks', async () => {
    const config = await discover(server, account);
    const narrowed = await client.clientCredentialsGrant(config, { scope: 'users:read' });
    expect(narrowed.scope).toBe('users:read');
    await expect(client.clientCredentialsGrant(config, { scope: 'users:write' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
  });

  it('answers the standard errors without echoing the secret', async () => {
    const wrong = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      {
        authorization: basicAuth(account.clientId, 'sas_not-the-secret'),
      },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body?.error).toBe('invalid_client');
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(JSON.stringify(wrong.body)).not.toContain('not-the-secret');

    const posted = await postForm(server, '/oauth/token', {
      grant_type: 'client_credentials',
      client_id: account.clientId,
      client_secret: 'wrong',
    });
    expect(posted.status).toBe(401);
    expect(posted.body?.error).toBe('invalid_client');
    expect(posted.headers.get('www-authenticate')).toBeNull();

    const unknown = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      {
        authorization: basicAuth('sa_nobody', account.clientSecret),
      },
    );
    expect(unknown.status).toBe(401);
    expect(unknown.body?.error).toBe('invalid_client');

    const both = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials', client_id: account.clientId, client_secret: account.clientSecret },
      { authorization: basicAuth(account.clientId, account.clientSecret) },
    );
    expect(both.status).toBe(400);
    expect(both.body?.error).toBe('invalid_request');

    const grant = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'password' },
      {
        authorization: basicAuth(account.clientId, account.clientSecret),
      },
    );
    expect(grant.status).toBe(400);
    expect(grant.body?.error).toBe('unsupported_grant_type');

    const none = await postForm(server, '/oauth/token', { grant_type: 'client_credentials' });
    expect(none.status).toBe(401);
    expect(none.body?.error).toBe('invalid_client');
  });

  it('form-url-decodes Basic credentials (RFC 6749 §2.3.1) and also takes them unencoded', async () => {
    const strict = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      {
        authorization: `Basic ${Buffer.from(
          `${account.clientId.replace(/[-_.]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}:${account.clientSecret.replace(/[-_.]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`,
        ).toString('base64')}`,
      },
    );
    expect(strict.status).toBe(200);
    const plain = await postForm(
      server,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      {
        authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString('base64')}`,
      },
    );
    expect(plain.status).toBe(200);
    expect(plain.headers.get('cache-control')).toBe('no-store');
  });
});

describe('introspection and revocation', () => {
  it('reports a live token active, and inactive once the service revokes it', async () => {
    const config = await discover(server, account);
    const { access_token } = await client.clientCredentialsGrant(config);
    const live = await client.tokenIntrospection(config, access_token);
    expect(live).toMatchObject({
      active: true,
      sub: account.id,
      client_id: account.clientId,
      tid: tenant.id,
      scope: 'users:read tokens:introspect',
      iss: server.url,
      token_type: 'Bearer',
    });
    await client.tokenRevocation(config, access_token);
    expect((await client.tokenIntrospection(config, access_token)).active).toBe(false);
    // Revoking again, or revoking garbage, is the same 200.
    await client.tokenRevocation(config, access_token);
    await client.tokenRevocation(config, 'no-such-token');
  });

  it("answers for a user's token as the API would: role now, inactive once the session ends", async () => {
    const config = await discover(server, account);
    const user = tenant.admin;
    const active = await client.tokenIntrospection(config, user.token);
    expect(active).toMatchObject({
      active: true,
      sub: user.userId,
      tid: tenant.id,
      sid: user.sessionId,
      role: 'ADMIN',
    });
    expect(active.client_id).toBeUndefined();
    const other = await makeTenant(server, system);
    const foreign = await client.tokenIntrospection(config, other.admin.token);
    expect(foreign).toEqual({ active: false });
    ok(await server.gql('mutation { logout }', {}, { token: other.admin.token }));
    const garbage = await client.tokenIntrospection(config, 'x.y.z');
    expect(garbage).toEqual({ active: false });
  });

  it('refuses introspection without the tokens:introspect scope (403) and a bad client (401)', async () => {
    const reader = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const refused = await postForm(
      server,
      '/oauth/introspect',
      { token: 'anything' },
      {
        authorization: basicAuth(reader.clientId, reader.clientSecret),
      },
    );
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'insufficient_scope' });
    const bad = await postForm(
      server,
      '/oauth/introspect',
      { token: 'anything' },
      {
        authorization: basicAuth(reader.clientId, 'wrong'),
      },
    );
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: 'invalid_client' });
  });

  it('revokes a refresh token without client authentication: its session ends', async () => {
    const login = ok(
      await server.gql(
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }',
        {
          input: {
            tenant: tenant.slug,
            email: tenant.admin.email,
            password: 'Tenancy fixture passphrase 7!',
          },
        },
      ),
    );
    const revoked = await postForm(server, '/oauth/revoke', {
      token: login.login.refreshToken,
      token_type_hint: 'refresh_token',
    });
    expect(revoked.status).toBe(200);
    const me = await server.gql('{ me { id } }', {}, { token: login.login.accessToken });
    expect(me.status).toBe(401);
    const config = await discover(server, account);
    expect((await client.tokenIntrospection(config, login.login.accessToken)).active).toBe(false);
  });
});

describe('account changes take effect at once', () => {
  const UPDATE =
    'mutation ($id: ID!, $input: UpdateServiceAccountInput!) { updateServiceAccount(id: $id, input: $input) { id status scopes } }';
  const ROTATE =
    'mutation ($id: ID!, $input: RotateServiceAccountSecretInput) { rotateServiceAccountSecret(id: $id, input: $input) { clientId clientSecret serviceAccount { secrets { id hint expiresAt } } } }';

  it('disabling ends grants and tokens; enabling again restores grants', async () => {
    const subject = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const config = await discover(server, subject);
    const { access_token } = await client.clientCredentialsGrant(config);
    const introspector = await discover(server, account);
    expect((await client.tokenIntrospection(introspector, access_token)).active).toBe(true);
    ok(
      await server.gql(
        UPDATE,
        { id: subject.id, input: { status: 'DISABLED' } },
        { token: tenant.admin.token },
      ),
    );
    expect((await client.tokenIntrospection(introspector, access_token)).active).toBe(false);
    await expect(client.clientCredentialsGrant(config)).rejects.toSatisfy(isInvalidClient);
    ok(
      await server.gql(
        UPDATE,
        { id: subject.id, input: { status: 'ACTIVE' } },
        { token: tenant.admin.token },
      ),
    );
    await expect(client.clientCredentialsGrant(config)).resolves.toMatchObject({
      token_type: expect.any(String),
    });
  });

  it('rotating without grace ends the old secret and its tokens; with grace both work until it ends', async () => {
    const subject = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const introspector = await discover(server, account);
    const oldConfig = await discover(server, subject);
    const { access_token: oldToken } = await client.clientCredentialsGrant(oldConfig);

    const graced = ok(
      await server.gql(
        ROTATE,
        { id: subject.id, input: { graceSeconds: 600 } },
        { token: tenant.admin.token },
      ),
    );
    const secrets = graced.rotateServiceAccountSecret.serviceAccount.secrets;
    expect(secrets).toHaveLength(2);
    expect(secrets.filter((s: { expiresAt: string | null }) => s.expiresAt !== null)).toHaveLength(1);
    expect(graced.rotateServiceAccountSecret.clientSecret).not.toBe(subject.clientSecret);
    expect((await client.tokenIntrospection(introspector, oldToken)).active).toBe(true);
    await expect(client.clientCredentialsGrant(oldConfig)).resolves.toBeDefined();
    const newConfig = await discover(server, {
      clientId: subject.clientId,
      clientSecret: graced.rotateServiceAccountSecret.clientSecret,
    });
    const { access_token: newToken } = await client.clientCredentialsGrant(newConfig);

    server.clock.advance(601_000);
    expect((await client.tokenIntrospection(introspector, oldToken)).active).toBe(false);
    await expect(client.clientCredentialsGrant(oldConfig)).rejects.toSatisfy(isInvalidClient);
    expect((await client.tokenIntrospection(introspector, newToken)).active).toBe(true);

    ok(await server.gql(ROTATE, { id: subject.id }, { token: tenant.admin.token }));
    expect((await client.tokenIntrospection(introspector, newToken)).active).toBe(false);
    await expect(client.clientCredentialsGrant(newConfig)).rejects.toSatisfy(isInvalidClient);
  });

  it('deleting ends everything the account held', async () => {
    const subject = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const config = await discover(server, subject);
    const { access_token } = await client.clientCredentialsGrant(config);
    const key = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id prefix name serviceAccount { id } } } }',
        { input: { serviceAccountId: subject.id, name: 'ci' } },
        { token: tenant.admin.token },
      ),
    ).createApiKey;
    expect(key.key.startsWith('idk_')).toBe(true);
    expect(key.apiKey.prefix).toBe(key.key.slice(0, 8));
    expect(key.apiKey.serviceAccount.id).toBe(subject.id);
    const introspector = await discover(server, account);
    expect((await client.tokenIntrospection(introspector, key.key)).active).toBe(true);
    ok(
      await server.gql(
        'mutation ($id: ID!) { deleteServiceAccount(id: $id) }',
        { id: subject.id },
        { token: tenant.admin.token },
      ),
    );
    expect((await client.tokenIntrospection(introspector, access_token)).active).toBe(false);
    expect((await client.tokenIntrospection(introspector, key.key)).active).toBe(false);
    await expect(client.clientCredentialsGrant(config)).rejects.toSatisfy(isInvalidClient);
  });

  it('a revoked API key is inactive at once', async () => {
    const subject = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const created = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id } } }',
        { input: { serviceAccountId: subject.id, name: 'ci' } },
        { token: tenant.admin.token },
      ),
    ).createApiKey;
    const introspector = await discover(server, account);
    expect(await client.tokenIntrospection(introspector, created.key)).toMatchObject({
      active: true,
      sub: subject.id,
      scope: 'users:read',
    });
    ok(
      await server.gql(
        'mutation ($id: ID!) { revokeApiKey(id: $id) }',
        { id: created.apiKey.id },
        { token: tenant.admin.token },
      ),
    );
    expect((await client.tokenIntrospection(introspector, created.key)).active).toBe(false);
  });
});
