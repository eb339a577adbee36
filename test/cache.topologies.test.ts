import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  countStatements,
  makeTenant,
  makeUser,
  ok,
  signIn,
  signInSystemAdmin,
  UPDATE_USER,
} from './support/fixtures.js';
import { startRedisCluster, startRedisSentinel, type Topology } from './support/redis-topologies.js';
import { startTestServer, type TestServer } from './support/server.js';
import { eventually, openSocket } from './support/ws.js';

/**
 * Redis Cluster (REDIS_CLUSTER_NODES) and Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME),
 * through ioredis' own support: two instances on each share the cache, its invalidations and
 * the subscription events exactly as on a single Redis.
 */

describe('configuration of the Redis topology', () => {
  it('reads Cluster seed nodes and Sentinels, and refuses ambiguous or incomplete settings', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001' }).redis).toMatchObject({
      mode: 'cluster',
      clusterNodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
    });
    expect(
      loadConfig({
        REDIS_SENTINELS: 'sentinel-a:26379',
        REDIS_SENTINEL_NAME: 'mymaster',
        REDIS_PASSWORD: 'secret pass',
      }).redis,
    ).toMatchObject({
      mode: 'sentinel',
      sentinels: [{ host: 'sentinel-a', port: 26379 }],
      sentinelName: 'mymaster',
      password: 'secret pass',
    });
    expect(loadConfig({}).redis.mode).toBe('none');
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis.mode).toBe('standalone');
    const refusals: [Record<string, string>, RegExp][] = [
      [
        { REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' },
        /Set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS/,
      ],
      [{ REDIS_SENTINELS: 'a:26379' }, /REDIS_SENTINEL_NAME .* must be set with REDIS_SENTINELS/],
      [{ REDIS_CLUSTER_NODES: 'a:70000' }, /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
      [
        { REDIS_SENTINELS: 'no-port', REDIS_SENTINEL_NAME: 'm' },
        /REDIS_SENTINELS must be a comma-separated list/,
      ],
    ];
    for (const [env, message] of refusals) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    }
    expect(() =>
      loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_PASSWORD: 'hunter2-secret', REDIS_URL: 'redis://x:1' }),
    ).not.toThrow(/hunter2/);
  });
});

describe.each([
  ['Redis Cluster', startRedisCluster, (t: Topology) => ({ REDIS_CLUSTER_NODES: t.nodes })],
  [
    'Redis Sentinel',
    startRedisSentinel,
    (t: Topology) => ({
      REDIS_SENTINELS: t.nodes,
      REDIS_SENTINEL_NAME: (t as Topology & { name: string }).name,
    }),
  ],
])('%s', (_name, start, env) => {
  let topology: Topology;
  let a: TestServer;
  let b: TestServer;
  let user: Actor;
  let admin: Actor;

  beforeAll(async () => {
    topology = await start();
    const settings = { REDIS_URL: '', ...env(topology) };
    a = await startTestServer(settings);
    b = await startTestServer(settings, { database: a.testDatabase });
    const tenant = await makeTenant(a, await signInSystemAdmin(a));
    admin = tenant.admin;
    user = await signIn(a, tenant.slug, (await makeUser(a, admin)).email);
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await topology?.stop();
  });

  it('is ready, and serves a second instance from the shared cache', async () => {
    for (const s of [a, b]) expect((await fetch(`${s.url}/ready`)).status).toBe(200);
    ok(await a.gql('{ me { id tenant { name } } }', {}, { token: user.token }));
    const statements = await countStatements(b, async () => {
      ok(await b.gql('{ me { id tenant { name } } }', {}, { token: user.token }));
    });
    expect(statements).toBe(0);
    const system = await signInSystemAdmin(b);
    const { cacheStats } = ok(
      await b.gql('{ cacheStats { keys usedMemoryBytes } }', {}, { token: system.token }),
    );
    expect(cacheStats.keys).toBeGreaterThan(0);
    expect(cacheStats.usedMemoryBytes).toBeGreaterThan(0);
  });

  it('invalidates across instances and carries subscription events', async () => {
    ok(await b.gql('{ me { role } }', {}, { token: user.token }));
    const socket = openSocket(b.url, user.token);
    await socket.connected;
    try {
      const changes = socket.subscribe<{ userChanged: { role: string } }>(
        'subscription { userChanged { role } }',
      );
      await eventually(
        () => b.app.services.events.listening(topics.userChanged(user.tenantId, user.userId)) > 0,
      );
      ok(await a.gql(UPDATE_USER, { id: user.userId, input: { role: 'MODERATOR' } }, { token: admin.token }));
      expect(ok(await b.gql('{ me { role } }', {}, { token: user.token })).me.role).toBe('MODERATOR');
      expect((await changes.next()).userChanged.role).toBe('MODERATOR');
      ok(await a.gql('mutation { logout }', {}, { token: user.token }));
      expect((await socket.closedWithin(1_000)).code).toBe(4403);
      expect((await b.gql('{ me { role } }', {}, { token: user.token })).status).toBe(401);
    } finally {
      await socket.dispose();
    }
  });
});
