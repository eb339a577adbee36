import { beforeAll, describe, expect, it } from 'vitest';
import { auditTrail, makeWorld, signInSystemAdmin, type TenantWorld } from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';
import { openSocket } from './support/ws.js';

/**
 * FORBIDDEN answers are audited without letting one caller flood the trail: at most one
 * `authz.denied` row per caller and refused field a minute, whose metadata.count says how many
 * were refused. Over real HTTP, 100 refusals sent at once by one GUEST.
 */
describe('security: authz.denied is aggregated per caller and field', () => {
  const server = useTestServer();
  let world: TenantWorld;

  beforeAll(async () => {
    world = await makeWorld(server, await signInSystemAdmin(server));
  });

  const denials = async () => auditTrail(server, world.id, 'authz.denied');
  const refuse = (query: string, token: string) => server.gql(query, {}, { token });

  it('100 refusals at once from one GUEST make one row with count 100', async () => {
    const guest = world.as.GUEST;
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => refuse('{ auditEvents { totalCount } }', guest.token)),
    );
    expect(answers.map(errorCode)).toEqual(Array(100).fill('FORBIDDEN'));
    const rows = await denials();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.actorId).toBe(guest.userId);
    expect(rows[0]?.metadata).toMatchObject({
      field: 'auditEvents',
      paths: ['auditEvents'],
      role: 'GUEST',
      count: 100,
    });
  });

  it('another field, or another caller, has a row of its own', async () => {
    await refuse('{ auditEvents { totalCount } }', world.as.USER.token);
    await refuse('{ auditEvents { totalCount } }', world.as.USER.token);
    await refuse('{ cacheStats { __typename } }', world.as.GUEST.token);
    const rows = await denials();
    const keyed = rows.map((row) => {
      const metadata = row.metadata as { field: string; count: number };
      return `${row.actorId === world.as.GUEST.userId ? 'GUEST' : 'USER'} ${metadata.field} ${metadata.count}`;
    });
    expect(keyed.sort()).toEqual(['GUEST auditEvents 100', 'GUEST cacheStats 1', 'USER auditEvents 2']);
  });

  it('refusals over the WebSocket are audited the same way, into the same row', async () => {
    const socket = openSocket(server.url, world.as.USER.token);
    try {
      await socket.connected;
      for (let i = 0; i < 5; i++) {
        const refused = socket.subscribe('{ auditEvents { totalCount } }');
        await refused.ended();
        expect(refused.errors[0]?.extensions?.code).toBe('FORBIDDEN');
      }
    } finally {
      await socket.dispose();
    }
    const rows = (await denials()).filter(
      (row) =>
        row.actorId === world.as.USER.userId && (row.metadata as { field: string }).field === 'auditEvents',
    );
    expect(rows.map((row) => (row.metadata as { count: number }).count)).toEqual([7]);
  });

  it('a minute later the next refusal starts a new row', async () => {
    server.clock.advance(61_000);
    await refuse('{ auditEvents { totalCount } }', world.as.GUEST.token);
    const rows = (await denials()).filter(
      (row) =>
        row.actorId === world.as.GUEST.userId && (row.metadata as { field: string }).field === 'auditEvents',
    );
    expect(rows.map((row) => (row.metadata as { count: number }).count)).toEqual([100, 1]);
  });
});
