import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  CREATE_USER,
  makeTenant,
  ok,
  PASSWORD,
  signInSystemAdmin,
  type TenantHandle,
  uniqueSlug,
} from './support/fixtures.js';
import {
  basicAuth,
  makeServiceAccount,
  postForm,
  type ServiceAccountHandle,
  useOAuthServer,
} from './support/oauth.js';
import { eventually, openSocket, type Socket, type Subscription } from './support/ws.js';

/**
 * A service on the WebSocket: `auditEventAdded` is open to a service holding audit:read (the
 * contract's scope list), in its own tenant; every other subscription is a person's. The
 * connection is checked again when the account changes: disabled, it is closed.
 */

const AUDIT_ADDED =
  'subscription ($tenantId: ID) { auditEventAdded(tenantId: $tenantId) { tenantId action actorId } }';
type Added = { auditEventAdded: { tenantId: string; action: string; actorId: string | null } };

const server = useOAuthServer();
let system: Actor;
let tenant: TenantHandle;
let other: TenantHandle;
const sockets: Socket[] = [];

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system);
  other = await makeTenant(server, system);
}, 60_000);
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
});

async function tokenOf(account: ServiceAccountHandle): Promise<string> {
  const answer = await postForm(
    server,
    '/oauth/token',
    { grant_type: 'client_credentials' },
    { authorization: basicAuth(account.clientId, account.clientSecret) },
  );
  expect(answer.status).toBe(200);
  return answer.body?.access_token as string;
}

async function connect(credential: string): Promise<Socket> {
  const socket = openSocket(server.url, credential);
  sockets.push(socket);
  await socket.connected;
  return socket;
}

async function feed(socket: Socket, tenantId: string, argument?: string): Promise<Subscription<Added>> {
  const subscription = socket.subscribe<Added>(AUDIT_ADDED, { tenantId: argument });
  await eventually(
    () =>
      server.app.services.events.listening(topics.auditEventAdded(tenantId)) > 0 || subscription.completed,
    3_000,
    'the feed',
  );
  return subscription;
}

async function createUserIn(admin: Actor): Promise<void> {
  ok(
    await server.gql(
      CREATE_USER,
      { input: { email: `${uniqueSlug('fed')}@example.test`, password: PASSWORD } },
      { token: admin.token },
    ),
  );
}

describe('auditEventAdded for services', () => {
  it("streams its tenant's audit events to a service holding audit:read, by token and by API key", async () => {
    const account = await makeServiceAccount(server, tenant.admin, ['audit:read']);
    const key = ok(
      await server.gql(
        'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { serviceAccountId: account.id, name: 'feed' } },
        { token: tenant.admin.token },
      ),
    ).createApiKey.key as string;
    const byToken = await feed(await connect(await tokenOf(account)), tenant.id);
    const byKey = await feed(await connect(key), tenant.id);
    await createUserIn(tenant.admin);
    for (const subscription of [byToken, byKey]) {
      expect((await subscription.next()).auditEventAdded).toMatchObject({
        tenantId: tenant.id,
        action: 'user.created',
        actorId: tenant.admin.userId,
      });
    }
    // Another tenant's events never reach it.
    await createUserIn(other.admin);
    await createUserIn(tenant.admin);
    expect((await byToken.next()).auditEventAdded.tenantId).toBe(tenant.id);
    expect(byToken.events.every((e) => e.auditEventAdded.tenantId === tenant.id)).toBe(true);
  });

  it('is FORBIDDEN without audit:read, for another tenant, and for the subscriptions of people', async () => {
    const reader = await makeServiceAccount(server, tenant.admin, [
      'users:read',
      'users:write',
      'sessions:read',
      'sessions:revoke',
      'tenant:read',
      'tokens:introspect',
      'invitations:write',
    ]);
    const socket = await connect(await tokenOf(reader));
    const refused = socket.subscribe<Added>(AUDIT_ADDED, {});
    await refused.ended();
    expect(refused.errors[0]?.extensions?.code).toBe('FORBIDDEN');

    const auditor = await makeServiceAccount(server, tenant.admin, ['audit:read', 'users:read']);
    const auditorSocket = await connect(await tokenOf(auditor));
    for (const [query, variables] of [
      [AUDIT_ADDED, { tenantId: other.id }],
      ['subscription { sessionEnded { sessionId } }', {}],
      ['subscription { userChanged { id } }', {}],
    ] as const) {
      const subscription = auditorSocket.subscribe(query, variables);
      await subscription.ended();
      expect(`${query}: ${subscription.errors[0]?.extensions?.code}`).toBe(`${query}: FORBIDDEN`);
    }
  });

  it('a system-tenant service may follow another tenant', async () => {
    const account = await makeServiceAccount(server, system, ['audit:read']);
    const subscription = await feed(await connect(await tokenOf(account)), other.id, other.id);
    await createUserIn(other.admin);
    expect((await subscription.next()).auditEventAdded).toMatchObject({
      tenantId: other.id,
      action: 'user.created',
    });
  });

  it('disabling the account closes its connections; taking audit:read away ends the feed', async () => {
    const UPDATE =
      'mutation ($id: ID!, $input: UpdateServiceAccountInput!) { updateServiceAccount(id: $id, input: $input) { id } }';
    const disabled = await makeServiceAccount(server, tenant.admin, ['audit:read']);
    const socket = await connect(await tokenOf(disabled));
    await feed(socket, tenant.id);
    ok(
      await server.gql(
        UPDATE,
        { id: disabled.id, input: { status: 'DISABLED' } },
        { token: tenant.admin.token },
      ),
    );
    expect(await socket.closedWithin(3_000)).toEqual({ code: 4403, reason: 'Credential revoked' });

    const narrowed = await makeServiceAccount(server, tenant.admin, ['audit:read', 'users:read']);
    const kept = await connect(await tokenOf(narrowed));
    const subscription = await feed(kept, tenant.id);
    ok(
      await server.gql(
        UPDATE,
        { id: narrowed.id, input: { scopes: ['users:read'] } },
        { token: tenant.admin.token },
      ),
    );
    // Rights shrank: the connection is closed for a fresh token (4401), and no event is delivered.
    expect(await kept.closedWithin(3_000)).toEqual({ code: 4401, reason: 'Permissions changed' });
    await createUserIn(tenant.admin);
    expect(subscription.events).toEqual([]);
  });
});
