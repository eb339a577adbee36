import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema.js';
import { CACHE_TTLS } from '../src/modules/cache/identity-cache.js';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  countStatements,
  makeWorld,
  ok,
  signInSystemAdmin,
  type TenantWorld,
  UPDATE_USER,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';
import { eventually, openSocket, type Socket } from './support/ws.js';

/**
 * Without REDIS_URL one process is the whole deployment: the cache lives in memory only, and
 * subscriptions run on an in-process PubSub. Everything still works.
 */

const server = useTestServer({ REDIS_URL: '' });
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

const ME = '{ me { id displayName role } }';

describe('without Redis', () => {
  it('reports itself ready, with Redis "not configured"', async () => {
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: { redis: string } }).checks.redis).toBe('not configured');
  });

  it('delivers subscriptions in process', async () => {
    const socket = openSocket(server.url, world.as.USER.token);
    sockets.push(socket);
    await socket.connected;
    const changed = socket.subscribe<{ userChanged: { role: string } }>(
      'subscription { userChanged { role } }',
    );
    const ended = socket.subscribe<{ sessionEnded: { reason: string } }>(
      'subscription { sessionEnded { reason } }',
    );
    const { events } = server.app.services;
    await eventually(
      () =>
        events.listening(topics.userChanged(world.id, world.as.USER.userId)) === 1 &&
        events.listening(topics.sessionEnded(world.id, world.as.USER.userId)) === 1,
    );
    ok(
      await server.gql(
        UPDATE_USER,
        { id: world.as.USER.userId, input: { role: 'MODERATOR' } },
        { token: world.admin.token },
      ),
    );
    expect((await changed.next()).userChanged.role).toBe('MODERATOR');
    ok(await server.gql('mutation { logout }', {}, { token: world.as.USER.token }));
    expect((await ended.next()).sessionEnded.reason).toBe('LOGOUT');
    expect((await socket.closedWithin(1_000)).code).toBe(4403);
  });

  it('caches in memory: cacheStats counts its entries and reports no Redis memory', async () => {
    ok(await server.gql(ME, {}, { token: world.as.GUEST.token }));
    expect(
      await countStatements(server, async () =>
        ok(await server.gql(ME, {}, { token: world.as.GUEST.token })),
      ),
    ).toBe(0);
    const { cacheStats } = ok(
      await server.gql('{ cacheStats { hits misses keys usedMemoryBytes } }', {}, { token: system.token }),
    );
    expect(cacheStats.usedMemoryBytes).toBe(0);
    expect(cacheStats.keys).toBe(server.app.services.cache.localEntries);
    expect(cacheStats.keys).toBeGreaterThanOrEqual(3);
    expect(cacheStats.hits).toBeGreaterThan(0);
  });

  it('picks up a change no write announced (made in SQL by hand) once the in-memory TTL passes', async () => {
    const guest = world.as.GUEST;
    expect(ok(await server.gql(ME, {}, { token: guest.token })).me.displayName).toBeNull();
    await server.testDatabase.database.db
      .update(users)
      .set({ displayName: 'Set by hand' })
      .where(eq(users.id, guest.userId));
    server.clock.advance(CACHE_TTLS.l1Ms - 1_000);
    expect(ok(await server.gql(ME, {}, { token: guest.token })).me.displayName).toBeNull();
    server.clock.advance(2_000);
    expect(ok(await server.gql(ME, {}, { token: guest.token })).me.displayName).toBe('Set by hand');
  });
});
