import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  attemptRefresh,
  DELETE_USER,
  loginUser,
  makeTenant,
  makeUser,
  ok,
  registerUser,
  type SignedIn,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  UPDATE_USER,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';
import { eventually, openSocket, type Socket, type Subscription } from './support/ws.js';

/**
 * sessionEnded over a real WebSocket: an app learns at once that one of its user's sessions
 * ended, and why; a socket whose own session ends is closed within a second; one whose access
 * token expires is closed with 4401 so the app reconnects with a fresh token.
 */

const SESSION_ENDED = 'subscription { sessionEnded { sessionId userId reason at } }';
type Ended = { sessionEnded: { sessionId: string; userId: string; reason: string; at: string } };

const server = useTestServer();
let tenant: TenantHandle;
let redis: Redis;
const sockets: Socket[] = [];

beforeAll(async () => {
  tenant = await makeTenant(server, await signInSystemAdmin(server));
  redis = new Redis(server.config.redis.url ?? '');
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  redis?.disconnect();
});

function socket(token?: string): Socket {
  const opened = openSocket(server.url, token);
  sockets.push(opened);
  return opened;
}

/** A subscription to sessionEnded that is live (subscribed on the server) when this resolves. */
async function watchSessions(user: {
  accessToken: string;
  userId: string;
}): Promise<{ socket: Socket; events: Subscription<Ended> }> {
  const opened = socket(user.accessToken);
  await opened.connected;
  const events = opened.subscribe<Ended>(SESSION_ENDED);
  const topic = topics.sessionEnded(tenant.id, user.userId);
  await eventually(() => server.app.services.events.listening(topic) > 0, 3_000, 'the subscription');
  return { socket: opened, events };
}

const signedUp = () => registerUser(server, tenant.slug);

describe('connecting', () => {
  it('refuses a connection without a valid token with 4401, and subscribes nothing for it', async () => {
    const user = await signedUp();
    const loggedOut = await loginUser(server, user);
    ok(await server.gql('mutation { logout }', {}, { token: loggedOut.accessToken }));
    for (const token of [undefined, 'not-a-jwt', `${user.accessToken}x`, loggedOut.accessToken]) {
      const refused = socket(token);
      await expect(refused.connected).rejects.toEqual({ code: 4401, reason: 'Unauthorized' });
    }
    const channels = await redis.pubsub('CHANNELS', `${server.config.redis.keyPrefix}events:*`);
    expect(channels).toEqual([]);
    // The same token that was refused nothing works once valid.
    await expect(socket(user.accessToken).connected).resolves.toBeUndefined();
  });
});

describe('sessionEnded', () => {
  let user: SignedIn;
  let watcher: Subscription<Ended>;

  beforeAll(async () => {
    user = await signedUp();
    watcher = (await watchSessions(user)).events;
  });

  it('tells the app of each of its user’s sessions that ends, with the reason', async () => {
    const other = await loginUser(server, user);
    ok(await server.gql('mutation { logout }', {}, { token: other.accessToken }));
    const loggedOut = (await watcher.next()).sessionEnded;
    expect(loggedOut).toMatchObject({ sessionId: other.sessionId, userId: user.userId, reason: 'LOGOUT' });
    expect(Math.abs(Date.parse(loggedOut.at) - server.clock.now().getTime())).toBeLessThan(1_000);

    const revoked = await loginUser(server, user);
    ok(
      await server.gql(
        'mutation ($id: ID!) { revokeSession(id: $id) }',
        { id: revoked.sessionId },
        { token: user.accessToken },
      ),
    );
    expect((await watcher.next()).sessionEnded).toMatchObject({
      sessionId: revoked.sessionId,
      reason: 'REVOKED',
    });

    const stolen = await loginUser(server, user);
    expect((await attemptRefresh(server, stolen.refreshToken)).data?.refresh).toBeTruthy();
    // Past the reuse grace: the second use is reuse.
    server.clock.advance(10_001);
    expect(errorCode(await attemptRefresh(server, stolen.refreshToken))).toBe('UNAUTHENTICATED');
    expect((await watcher.next()).sessionEnded).toMatchObject({
      sessionId: stolen.sessionId,
      reason: 'REFRESH_TOKEN_REUSE',
    });

    const elsewhere = await loginUser(server, user);
    const newPassword = `${user.password}-renewed`;
    ok(
      await server.gql(
        'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
        { input: { currentPassword: user.password, newPassword } },
        { token: user.accessToken },
      ),
    );
    user.password = newPassword;
    expect((await watcher.next()).sessionEnded).toMatchObject({
      sessionId: elsewhere.sessionId,
      reason: 'PASSWORD_CHANGED',
    });
    expect(watcher.events).toHaveLength(4);
    expect(watcher.errors).toEqual([]);
  });

  it("never delivers another user's session ends", async () => {
    const bystander = await signedUp();
    const theirs = await watchSessions(bystander);
    ok(
      await server.gql('mutation { logoutAll }', {}, { token: (await loginUser(server, user)).accessToken }),
    );
    // Everything the user's own watcher gets has been published; the bystander got none of it.
    await eventually(() => watcher.events.length >= 6, 3_000, "the user's own events");
    expect(theirs.events.events).toEqual([]);
  });
});

describe('the socket of a session that ends', () => {
  it('gets its own sessionEnded, then is closed with 4403 within a second', async () => {
    const user = await signedUp();
    const { socket: own, events } = await watchSessions(user);
    const started = Date.now();
    ok(await server.gql('mutation { logout }', {}, { token: user.accessToken }));
    expect((await events.next()).sessionEnded).toMatchObject({ sessionId: user.sessionId, reason: 'LOGOUT' });
    expect(await own.closedWithin(1_000)).toEqual({ code: 4403, reason: 'Session ended' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it.each([
    [
      'suspended',
      'USER_SUSPENDED',
      (admin: Actor, id: string) =>
        server.gql(UPDATE_USER, { id, input: { status: 'SUSPENDED' } }, { token: admin.token }),
    ],
    [
      'deleted',
      'USER_DELETED',
      (admin: Actor, id: string) => server.gql(DELETE_USER, { id }, { token: admin.token }),
    ],
  ])('is closed when its user is %s, after hearing why', async (_what, reason, act) => {
    const created = await makeUser(server, tenant.admin);
    const signedIn = await signIn(server, tenant.slug, created.email);
    const user = { accessToken: signedIn.token, userId: signedIn.userId };
    const { socket: own, events } = await watchSessions(user);
    ok(await act(tenant.admin, created.id));
    expect((await events.next()).sessionEnded).toMatchObject({ sessionId: signedIn.sessionId, reason });
    expect((await own.closedWithin(1_000)).code).toBe(4403);
  });
});

describe('an access token that expires', () => {
  it('closes the socket with 4401 "Token expired"; a refreshed token connects again', async () => {
    const user = await signedUp();
    const { socket: own } = await watchSessions(user);
    const survivor = await watchSessions(await loginUser(server, user));
    const lifetime =
      Date.parse((await loginUser(server, user)).accessTokenExpiresAt) - server.clock.now().getTime();
    // The service's clock decides; the sweep runs every second.
    server.clock.advance(lifetime + 1_000);
    expect(await own.closedWithin(2_000)).toEqual({ code: 4401, reason: 'Token expired' });
    expect(await survivor.socket.closedWithin(2_000)).toEqual({ code: 4401, reason: 'Token expired' });

    const refreshed = ok(await attemptRefresh(server, user.refreshToken)).refresh;
    const again = await watchSessions({ accessToken: refreshed.accessToken, userId: user.userId });
    ok(await server.gql('mutation { logout }', {}, { token: refreshed.accessToken }));
    expect((await again.events.next()).sessionEnded.reason).toBe('LOGOUT');
  });
});
