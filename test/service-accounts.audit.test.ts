import { beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../src/modules/service-accounts/scopes.js';
import {
  type Actor,
  auditTrail,
  makeTenant,
  makeUser,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import { changes, parseSamples, scrape } from './support/metrics.js';
import {
  basicAuth,
  makeServiceAccount,
  postForm,
  type ServiceAccountHandle,
  useOAuthServer,
} from './support/oauth.js';

/**
 * What a service does is on the audit trail as the service's doing (actorId = the service
 * account's id, metadata.actorType = "SERVICE"); the tokens it is issued are counted per account
 * and minute; the OAuth endpoints count their outcomes in /metrics.
 */

const server = useOAuthServer();
let system: Actor;
let tenant: TenantHandle;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
}, 60_000);

function grant(
  account: Pick<ServiceAccountHandle, 'clientId' | 'clientSecret'>,
  form: Record<string, string> = {},
) {
  return postForm(
    server,
    '/oauth/token',
    { grant_type: 'client_credentials', ...form },
    { authorization: basicAuth(account.clientId, account.clientSecret) },
  );
}

describe('the audit trail of a service', () => {
  it('every action a service takes is recorded with the service as its actor', async () => {
    const account = await makeServiceAccount(server, tenant.admin, [...SCOPES]);
    const token = (await grant(account)).body?.access_token as string;
    const key = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { serviceAccountId: account.id, name: 'audit' } },
        { token: tenant.admin.token },
      ),
    ).createApiKey.key as string;
    const target = await makeUser(server, tenant.admin, { role: 'USER' });
    const signedIn = await signIn(server, tenant.slug, target.email);
    await signIn(server, tenant.slug, target.email);
    // From here on only the service acts in this tenant.
    const before = (await auditTrail(server, tenant.id)).length;

    const as = async (query: string, variables: Record<string, unknown>, credential = token) =>
      ok(await server.gql(query, variables, { token: credential }));
    const created = await as(
      'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
      { input: { email: `made-${Date.now()}@example.test`, password: PASSWORD, role: 'GUEST' } },
      key,
    );
    await as('mutation ($id: ID!) { updateUser(id: $id, input: { displayName: "Renamed" }) { id } }', {
      id: target.id,
    });
    await as('mutation ($id: ID!) { unlockUser(id: $id) { id } }', { id: target.id });
    await as('mutation ($id: ID!) { revokeSession(id: $id) }', { id: signedIn.sessionId });
    await as('mutation ($id: ID!) { revokeUserSessions(userId: $id) }', { id: target.id });
    await as(
      'mutation ($id: ID!, $input: SetUserPasswordInput!) { setUserPassword(id: $id, input: $input) }',
      {
        id: target.id,
        input: { newPassword: 'Another service set passphrase 8!' },
      },
    );
    const invitation = await as('mutation ($input: InviteUserInput!) { inviteUser(input: $input) { id } }', {
      input: { email: `invited-${Date.now()}@example.test`, role: 'USER' },
    });
    await as('mutation ($id: ID!) { revokeInvitation(id: $id) }', { id: invitation.inviteUser.id });
    await as('mutation ($id: ID!) { deleteUser(id: $id) }', { id: created.createUser.id });
    // RFC 7009: the service revokes its own API key and access token.
    for (const revoked of [key, token]) {
      const answer = await postForm(
        server,
        '/oauth/revoke',
        { token: revoked },
        { authorization: basicAuth(account.clientId, account.clientSecret) },
      );
      expect(answer.status).toBe(200);
    }

    const events = (await auditTrail(server, tenant.id)).slice(before);
    expect(events.map((e) => e.action)).toEqual([
      'user.created',
      'user.updated',
      'user.unlocked',
      'session.revoked',
      'session.revoked',
      'password.set',
      'invitation.created',
      'invitation.revoked',
      'user.deleted',
      'service_account.api_key_revoked',
      'service_account.token_revoked',
    ]);
    const strangers = events
      .filter(
        (e) => e.actorId !== account.id || (e.metadata as Record<string, unknown>)?.actorType !== 'SERVICE',
      )
      .map((e) => `${e.action} by ${e.actorId} (${JSON.stringify(e.metadata)})`);
    expect(strangers).toEqual([]);
  });

  it('the tokens issued to a service are one event per account and minute, with their count', async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const quiet = await makeServiceAccount(server, tenant.admin, ['users:read']);
    await server.app.services.serviceAccounts.usage.flush();
    for (let i = 0; i < 3; i++) expect((await grant(account)).status).toBe(200);
    server.clock.advance(60_000);
    await server.app.services.serviceAccounts.usage.flush();
    const issued = (await auditTrail(server, tenant.id, 'service_account.tokens_issued')).filter(
      (e) => e.targetId === account.id || e.targetId === quiet.id,
    );
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ actorId: account.id, targetId: account.id });
    const metadata = issued[0]?.metadata as Record<string, unknown>;
    expect(metadata).toMatchObject({ actorType: 'SERVICE', count: 3 });
    expect(Date.parse(metadata.to as string) - Date.parse(metadata.from as string)).toBe(60_000);
    const listed = ok(
      await server.gql(
        'query ($id: ID!) { serviceAccount(id: $id) { lastUsedAt secrets { lastUsedAt } } }',
        { id: account.id },
        { token: tenant.admin.token },
      ),
    ).serviceAccount;
    expect(listed.lastUsedAt).not.toBeNull();
    expect(listed.secrets[0].lastUsedAt).not.toBeNull();
  });
});

describe('metrics of the OAuth endpoints', () => {
  it('count grants and introspections by outcome', async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['users:read', 'tokens:introspect']);
    const reader = await makeServiceAccount(server, tenant.admin, ['users:read']);
    const before = parseSamples(await (await scrape(server)).text());

    const token = (await grant(account)).body?.access_token as string;
    expect((await grant(account)).status).toBe(200);
    expect((await grant({ clientId: account.clientId, clientSecret: 'wrong' })).status).toBe(401);
    expect((await grant(account, { scope: 'audit:read' })).status).toBe(400);
    expect((await grant(account, { grant_type: 'password' })).status).toBe(400);
    const introspect = (by: Pick<ServiceAccountHandle, 'clientId' | 'clientSecret'>, presented: string) =>
      postForm(
        server,
        '/oauth/introspect',
        { token: presented },
        { authorization: basicAuth(by.clientId, by.clientSecret) },
      );
    expect((await introspect(account, token)).body?.active).toBe(true);
    expect((await introspect(account, 'nothing')).body?.active).toBe(false);
    expect((await introspect(reader, token)).status).toBe(403);
    expect((await introspect({ clientId: account.clientId, clientSecret: 'wrong' }, token)).status).toBe(401);

    const after = parseSamples(await (await scrape(server)).text());
    expect(changes(before, after, (series) => series.startsWith('identity_oauth_'))).toEqual({
      'identity_oauth_token_requests_total{outcome="issued"}': 2,
      'identity_oauth_token_requests_total{outcome="invalid_client"}': 1,
      'identity_oauth_token_requests_total{outcome="invalid_scope"}': 1,
      'identity_oauth_token_requests_total{outcome="unsupported_grant_type"}': 1,
      'identity_oauth_introspections_total{outcome="active"}': 1,
      'identity_oauth_introspections_total{outcome="inactive"}': 1,
      'identity_oauth_introspections_total{outcome="insufficient_scope"}': 1,
      'identity_oauth_introspections_total{outcome="invalid_client"}': 1,
    });
  });
});
