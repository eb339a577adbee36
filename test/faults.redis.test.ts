import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  makeTenant,
  makeUser,
  ok,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import { type RedisProcess, startRedisProcess } from './support/redis-process.js';
import { type GraphQLResponse, startTestServer, type TestServer } from './support/server.js';
import { eventually, openSocket, type Socket } from './support/ws.js';

/**
 * Redis (a redis-server of the test's own) going away under two instances: readiness says so,
 * token checks and reads go on from PostgreSQL and stay correct across instances, subscriptions
 * end with 1013 and come back after it; nothing needs a restart. Then the nastier case: Redis
 * frozen with its data, while a write happens, then thawed — no instance serves the old row.
 */

let redis: RedisProcess;
let a: TestServer;
let b: TestServer;
let tenant: TenantHandle;
let user: Actor;
const sockets: Socket[] = [];
const answers: GraphQLResponse[] = [];

beforeAll(async () => {
  redis = await startRedisProcess();
  const env = { REDIS_URL: redis.url };
  a = await startTestServer(env);
  b = await startTestServer(env, { database: a.testDatabase });
  tenant = await makeTenant(a, await signInSystemAdmin(a));
  user = await signIn(a, tenant.slug, (await makeUser(a, tenant.admin)).email);
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await b?.close();
  await a?.close();
  await redis?.stop();
});

/** Every answer is kept: none may ever carry a stack trace or a driver's message. */
async function gql(on: TestServer, query: string, variables: Record<string, unknown>, token?: string) {
  const answer = await on.gql(query, variables, { token });
  answers.push(answer);
  return answer;
}

const readiness = async (on: TestServer) => (await fetch(`${on.url}/ready`)).status;
const ME = '{ me { id displayName } }';
const rename = (on: TestServer, name: string) =>
  gql(
    on,
    'mutation ($n: String) { updateMe(input: { displayName: $n }) { displayName } }',
    { n: name },
    user.token,
  );

async function watchSessions(on: TestServer, actor: Actor) {
  const socket = openSocket(on.url, actor.token);
  sockets.push(socket);
  await socket.connected;
  const events = socket.subscribe<{ sessionEnded: { sessionId: string } }>(
    'subscription { sessionEnded { sessionId } }',
  );
  await eventually(
    () => on.app.services.events.listening(topics.sessionEnded(actor.tenantId, actor.userId)) > 0,
  );
  return { socket, events };
}

describe('Redis stopped, then started again', () => {
  it('degrades cleanly and recovers by itself', async () => {
    const watching = await watchSessions(b, user);
    ok(await gql(b, ME, {}, user.token)); // cached on b

    const stopped = Date.now();
    await redis.stop();
    expect(await watching.socket.closedWithin(5_000)).toEqual({
      code: 1013,
      reason: 'Subscriptions unavailable; try again later',
    });
    console.info(`redis stopped: subscribers closed with 1013 after ${Date.now() - stopped} ms`);
    await eventually(
      async () => (await readiness(a)) === 503 && (await readiness(b)) === 503,
      5_000,
      '/ready to say 503',
    );
    // Token checks and reads from PostgreSQL; a write through a is seen through b at once.
    expect(ok(await rename(a, 'During the outage')).updateMe.displayName).toBe('During the outage');
    expect(ok(await gql(b, ME, {}, user.token)).me.displayName).toBe('During the outage');
    const other = await signIn(b, tenant.slug, user.email); // per-IP limits count in process meanwhile
    ok(await gql(a, 'mutation { logout }', {}, other.token));
    expect((await gql(b, ME, {}, other.token)).status).toBe(401);
    // New subscribers are turned away with the same "try again later".
    await expect(openSocket(b.url, user.token).connected).rejects.toEqual({
      code: 1013,
      reason: 'Subscriptions unavailable; try again later',
    });

    const restarted = Date.now();
    await redis.start();
    await eventually(
      async () => (await readiness(a)) === 200 && (await readiness(b)) === 200,
      10_000,
      '/ready to say 200',
    );
    console.info(`redis started again: both instances ready after ${Date.now() - restarted} ms`);
    await eventually(
      () => a.app.services.cache.localCaching && b.app.services.cache.localCaching,
      5_000,
      'caching again',
    );
    const again = await watchSessions(b, user);
    const third = await signIn(a, tenant.slug, user.email);
    ok(await gql(a, 'mutation { logout }', {}, third.token));
    expect((await again.events.next()).sessionEnded.sessionId).toBe(third.sessionId);
    expect(ok(await rename(b, 'After the outage')).updateMe.displayName).toBe('After the outage');
    expect(ok(await gql(a, ME, {}, user.token)).me.displayName).toBe('After the outage');
  });
});

describe('Redis frozen (it keeps its data) while a write happens', () => {
  it('never serves the row Redis still holds from before', async () => {
    ok(await rename(a, 'Before the freeze'));
    // Both instances hold the row in memory, and Redis holds it too.
    for (const on of [a, b])
      expect(ok(await gql(on, ME, {}, user.token)).me.displayName).toBe('Before the freeze');

    redis.pause();
    try {
      await eventually(
        () => !a.app.services.cache.localCaching && !b.app.services.cache.localCaching,
        5_000,
        'Redis to count as down',
      );
      expect(ok(await rename(a, 'Written while frozen')).updateMe.displayName).toBe('Written while frozen');
      expect(ok(await gql(b, ME, {}, user.token)).me.displayName).toBe('Written while frozen');
    } finally {
      redis.resume();
    }
    await eventually(
      () => a.app.services.cache.localCaching && b.app.services.cache.localCaching,
      10_000,
      'caching again',
    );
    for (const on of [b, a, b])
      expect(ok(await gql(on, ME, {}, user.token)).me.displayName).toBe('Written while frozen');
  });
});

describe('every answer during these faults', () => {
  it('was clean: no stack trace, no driver or Redis message', () => {
    expect(answers.length).toBeGreaterThan(10);
    for (const answer of answers) {
      for (const error of answer.errors ?? []) {
        expect(error.extensions).not.toHaveProperty('stacktrace');
        expect(error.message).not.toMatch(/redis|ECONN|ioredis|Connection is closed/i);
      }
    }
  });
});
