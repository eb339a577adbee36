import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  makeActor,
  makeTenant,
  makeUser,
  ok,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  UPDATE_USER,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';
import { openSocket, type Socket } from './support/ws.js';

/**
 * Every operation on a WebSocket is authenticated when it starts, exactly like an HTTP request:
 * a caller demoted or suspended after the socket opened has, on that socket, only the rights
 * they have now, and the socket is closed. Over a real graphql-ws connection.
 */
describe('security: WebSocket operations run as the caller is now', () => {
  const server = useTestServer();
  let system: Actor;
  let tenant: TenantHandle;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    tenant = await makeTenant(server, system);
  });

  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.dispose()));
  });

  async function connect(actor: Actor): Promise<Socket> {
    const socket = openSocket(server.url, actor.token);
    sockets.push(socket);
    await socket.connected;
    return socket;
  }

  /** One query or mutation over the socket: its data, or the code of its first error. */
  async function over(socket: Socket, query: string, variables?: Record<string, unknown>) {
    const operation = socket.subscribe(query, variables);
    await operation.ended(5_000);
    return {
      data: operation.events[0],
      code: operation.errors[0]?.extensions?.code ?? operation.errors[0]?.message,
    };
  }

  const userRow = async (id: string) =>
    ok(
      await server.gql('query ($id: ID!) { user(id: $id) { role status } }', { id }, { token: system.token }),
    ).user;

  it('gives a demoted ADMIN no way to promote themself back or demote the real ADMIN', async () => {
    const demoted = await makeActor(server, tenant, 'ADMIN');
    const socket = await connect(demoted);
    // The socket works as an ADMIN's first.
    expect((await over(socket, '{ users { totalCount } }')).code).toBeUndefined();

    ok(
      await server.gql(
        UPDATE_USER,
        { id: demoted.userId, input: { role: 'USER' } },
        { token: tenant.admin.token },
      ),
    );
    const promote = over(socket, UPDATE_USER, { id: demoted.userId, input: { role: 'ADMIN' } });
    const demote = over(socket, UPDATE_USER, { id: tenant.admin.userId, input: { role: 'USER' } });
    const [promoted, demotedOther] = await Promise.all([promote, demote]);
    expect(promoted.data).toBeUndefined();
    expect(demotedOther.data).toBeUndefined();
    expect(promoted.code).toBe('FORBIDDEN');
    expect(await userRow(demoted.userId)).toMatchObject({ role: 'USER' });
    expect(await userRow(tenant.admin.userId)).toMatchObject({ role: 'ADMIN' });
    // And the socket is closed: the app reconnects with a token for the role it has now.
    expect(await socket.closedWithin(3_000)).toEqual({ code: 4401, reason: 'Permissions changed' });
  });

  it('takes system rights from a demoted system ADMIN at once', async () => {
    const second = await makeUser(server, system, { role: 'ADMIN' });
    const secondAdmin = await signIn(server, server.config.systemTenantSlug, second.email);
    const socket = await connect(secondAdmin);
    expect((await over(socket, '{ tenants { totalCount } }')).code).toBeUndefined();

    ok(
      await server.gql(
        UPDATE_USER,
        { id: secondAdmin.userId, input: { role: 'MODERATOR' } },
        { token: system.token },
      ),
    );
    const [tenants, suspendTenant] = await Promise.all([
      over(socket, '{ tenants { totalCount } }'),
      over(socket, 'mutation ($id: ID!) { updateTenant(id: $id, input: { status: SUSPENDED }) { id } }', {
        id: tenant.id,
      }),
    ]);
    expect(tenants).toEqual({ data: undefined, code: 'FORBIDDEN' });
    expect(suspendTenant).toEqual({ data: undefined, code: 'FORBIDDEN' });
    const status = ok(
      await server.gql(
        'query ($id: ID) { tenant(id: $id) { status } }',
        { id: tenant.id },
        { token: system.token },
      ),
    ).tenant.status;
    expect(status).toBe('ACTIVE');
    expect(await socket.closedWithin(3_000)).toEqual({ code: 4401, reason: 'Permissions changed' });
  });

  it('gives a suspended ADMIN nothing in the moment before the socket closes', async () => {
    const suspended = await makeActor(server, tenant, 'ADMIN');
    const socket = await connect(suspended);
    ok(
      await server.gql(
        UPDATE_USER,
        { id: suspended.userId, input: { status: 'SUSPENDED' } },
        {
          token: tenant.admin.token,
        },
      ),
    );
    // Sent at once, inside the close grace the sessionEnded event gets.
    const reactivate = await over(socket, UPDATE_USER, { id: suspended.userId, input: { status: 'ACTIVE' } });
    expect(reactivate.data).toBeUndefined();
    expect(reactivate.code).toBe('UNAUTHENTICATED');
    expect(await userRow(suspended.userId)).toMatchObject({ status: 'SUSPENDED' });
    expect(await socket.closedWithin(3_000)).toEqual({ code: 4403, reason: 'Session ended' });
  });

  it('reads the role for every operation, so a promotion counts at once too', async () => {
    const promoted = await makeActor(server, tenant, 'USER');
    const socket = await connect(promoted);
    expect((await over(socket, '{ users { totalCount } }')).code).toBe('FORBIDDEN');
    ok(
      await server.gql(
        UPDATE_USER,
        { id: promoted.userId, input: { role: 'MODERATOR' } },
        { token: tenant.admin.token },
      ),
    );
    expect((await over(socket, '{ users { totalCount } }')).code).toBeUndefined();
  });
});
