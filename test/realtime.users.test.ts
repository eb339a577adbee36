import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  DELETE_USER,
  makeTenant,
  makeUser,
  makeWorld,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantWorld,
  UNLOCK_USER,
  UPDATE_USER,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';
import { eventually, openSocket, type Socket, type Subscription } from './support/ws.js';

/**
 * userChanged over a real WebSocket: the signed-in user's own changes, and (for MODERATORs and
 * ADMINs) those of a user of their tenant, each re-read as the subscriber may see it now.
 */

const USER_CHANGED = `subscription ($id: ID) {
  userChanged(id: $id) { id email displayName role status lockedUntil lastLoginAt updatedAt }
}`;
type Changed = {
  userChanged: {
    id: string;
    email: string;
    displayName: string | null;
    role: string;
    status: string;
    lockedUntil: string | null;
    lastLoginAt: string | null;
  };
};

const server = useTestServer();
let system: Actor;
let world: TenantWorld;
const sockets: Socket[] = [];

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  world = await makeWorld(server, system);
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
});

/** A live userChanged subscription of `by` (to `id`, or to themself). */
async function watch(by: Actor, id?: string, tenantId = by.tenantId): Promise<Subscription<Changed>> {
  const socket = openSocket(server.url, by.token);
  sockets.push(socket);
  await socket.connected;
  const subscription = socket.subscribe<Changed>(USER_CHANGED, { id });
  const topic = topics.userChanged(tenantId, id ?? by.userId);
  await eventually(
    () => server.app.services.events.listening(topic) > 0 || subscription.completed,
    3_000,
    'the subscription',
  );
  return subscription;
}

/** A subscription that the server refuses: resolves to the error's code. */
async function refusal(by: Actor, id?: string): Promise<string | undefined> {
  const socket = openSocket(server.url, by.token);
  sockets.push(socket);
  await socket.connected;
  const subscription = socket.subscribe<Changed>(USER_CHANGED, { id });
  await subscription.ended();
  expect(subscription.events).toEqual([]);
  return subscription.errors[0]?.extensions?.code;
}

const gql = (by: Actor, query: string, variables: Record<string, unknown> = {}) =>
  server.gql(query, variables, { token: by.token });

describe('userChanged', () => {
  it("delivers the signed-in user's own changes, as they are now", async () => {
    const me = await signIn(
      server,
      world.slug,
      (await makeUser(server, world.admin, { role: 'USER' })).email,
    );
    const mine = await watch(me);
    ok(await gql(me, 'mutation { updateMe(input: { displayName: "Renamed" }) { id } }'));
    expect((await mine.next()).userChanged).toMatchObject({
      id: me.userId,
      displayName: 'Renamed',
      role: 'USER',
    });
    ok(await gql(world.admin, UPDATE_USER, { id: me.userId, input: { role: 'MODERATOR' } }));
    expect((await mine.next()).userChanged).toMatchObject({ role: 'MODERATOR', displayName: 'Renamed' });
  });

  it('lets MODERATORs and ADMINs follow a user of their tenant: updates, lockouts, unlocks, sign-ins', async () => {
    const target = await makeUser(server, world.admin, { role: 'USER' });
    const moderator = await watch(world.as.MODERATOR, target.id);
    const admin = await watch(world.admin, target.id);

    ok(await gql(world.as.MODERATOR, UPDATE_USER, { id: target.id, input: { status: 'SUSPENDED' } }));
    expect((await moderator.next()).userChanged).toMatchObject({ id: target.id, status: 'SUSPENDED' });
    ok(
      await gql(world.admin, UPDATE_USER, {
        id: target.id,
        input: { status: 'ACTIVE', displayName: 'Back' },
      }),
    );
    expect((await moderator.next()).userChanged).toMatchObject({ status: 'ACTIVE', displayName: 'Back' });

    // maxFailedLogins defaults to 5: the fifth failure locks, and the lock is visible at once.
    for (let i = 0; i < 5; i++) {
      await server.gql('mutation ($input: LoginInput!) { login(input: $input) { accessToken } }', {
        input: { tenant: world.slug, email: target.email, password: 'not the password 123' },
      });
    }
    const locked = (await moderator.next()).userChanged;
    expect(locked.lockedUntil).not.toBeNull();
    ok(await gql(world.as.MODERATOR, UNLOCK_USER, { id: target.id }));
    expect((await moderator.next()).userChanged.lockedUntil).toBeNull();

    const signedIn = await signIn(server, world.slug, target.email, PASSWORD);
    expect((await moderator.next()).userChanged.lastLoginAt).not.toBeNull();
    expect(signedIn.userId).toBe(target.id);
    // The ADMIN saw the same five changes.
    await eventually(() => admin.events.length === 5, 3_000, "the ADMIN's events");
    expect(admin.events.map((e) => e.userChanged.status)).toEqual([
      'SUSPENDED',
      'ACTIVE',
      'ACTIVE',
      'ACTIVE',
      'ACTIVE',
    ]);
  });

  it('completes when the user is deleted', async () => {
    const target = await makeUser(server, world.admin);
    const moderator = await watch(world.as.MODERATOR, target.id);
    ok(await gql(world.admin, DELETE_USER, { id: target.id }));
    await moderator.ended();
    expect(moderator.events).toEqual([]);
    expect(moderator.errors).toEqual([]);
  });

  it("refuses USERs and GUESTs other users, and anyone another tenant's users, like missing ones", async () => {
    const target = await makeUser(server, world.admin);
    expect(await refusal(world.as.USER, target.id)).toBe('FORBIDDEN');
    expect(await refusal(world.as.GUEST, world.admin.userId)).toBe('FORBIDDEN');

    const other = await makeTenant(server, system);
    const foreign = await makeUser(server, other.admin);
    expect(await refusal(world.admin, foreign.id)).toBe('NOT_FOUND');
    expect(await refusal(world.admin, randomUUID())).toBe('NOT_FOUND');
    expect(await refusal(world.as.MODERATOR, 'not-an-id')).toBe('NOT_FOUND');
    // A system ADMIN may follow any tenant's user.
    const followed = await watch(system, foreign.id, other.id);
    ok(await gql(other.admin, UPDATE_USER, { id: foreign.id, input: { displayName: 'Seen by system' } }));
    expect((await followed.next()).userChanged.displayName).toBe('Seen by system');
  });

  it('stops with FORBIDDEN at the next change once the follower is no longer a MODERATOR', async () => {
    const follower = await signIn(
      server,
      world.slug,
      (await makeUser(server, world.admin, { role: 'MODERATOR' })).email,
    );
    const target = await makeUser(server, world.admin);
    const following = await watch(follower, target.id);
    ok(await gql(world.admin, UPDATE_USER, { id: follower.userId, input: { role: 'USER' } }));
    ok(await gql(world.admin, UPDATE_USER, { id: target.id, input: { displayName: 'Not for you' } }));
    await following.ended();
    expect(following.events).toEqual([]);
    expect(following.errors[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
