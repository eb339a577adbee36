import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  countStatements,
  makeTenant,
  makeWorld,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantWorld,
  UPDATE_USER,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const STATS = `stats {
  totalUsers activeSessions loginsLast24h failedLoginsLast24h
  usersByRole { role count } usersByStatus { status count }
}`;

interface Stats {
  totalUsers: number;
  activeSessions: number;
  loginsLast24h: number;
  failedLoginsLast24h: number;
  usersByRole: { role: string; count: number }[];
  usersByStatus: { status: string; count: number }[];
}

const byRole = (stats: Stats) => Object.fromEntries(stats.usersByRole.map((r) => [r.role, r.count]));
const byStatus = (stats: Stats) => Object.fromEntries(stats.usersByStatus.map((r) => [r.status, r.count]));

describe('tenants: stats', () => {
  const server = useTestServer();
  let system: Actor;
  let world: TenantWorld;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    world = await makeWorld(server, system);
  });

  async function stats(by: Actor = world.admin): Promise<Stats> {
    const query = `query ($id: ID) { tenant(id: $id) { ${STATS} } }`;
    return ok(await server.gql(query, { id: world.id }, { token: by.token })).tenant.stats;
  }

  it('counts users by role and status, active sessions and the last day of sign-ins', async () => {
    const failed = await server.gql('mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
      i: { tenant: world.slug, email: world.as.USER.email, password: `${PASSWORD}x` },
    });
    expect(errorCode(failed)).toBe('UNAUTHENTICATED');
    const current = await stats();
    expect(current).toMatchObject({
      totalUsers: 4,
      activeSessions: 4,
      loginsLast24h: 4,
      failedLoginsLast24h: 1,
    });
    expect(byRole(current)).toEqual({ ADMIN: 1, MODERATOR: 1, USER: 1, GUEST: 1 });
    expect(byStatus(current)).toEqual({ ACTIVE: 4, SUSPENDED: 0 });
    // The system ADMIN sees the same numbers.
    expect(await stats(system)).toEqual(current);
  });

  it('follows role and status changes and ended sessions at once', async () => {
    ok(
      await server.gql(
        UPDATE_USER,
        { id: world.as.USER.userId, input: { status: 'SUSPENDED' } },
        { token: world.admin.token },
      ),
    );
    ok(
      await server.gql(
        UPDATE_USER,
        { id: world.as.GUEST.userId, input: { role: 'MODERATOR' } },
        { token: world.admin.token },
      ),
    );
    ok(await server.gql('mutation { logout }', {}, { token: world.as.MODERATOR.token }));
    const after = await stats();
    expect(after).toMatchObject({ totalUsers: 4, activeSessions: 2 });
    expect(byRole(after)).toEqual({ ADMIN: 1, MODERATOR: 2, USER: 1, GUEST: 0 });
    expect(byStatus(after)).toEqual({ ACTIVE: 3, SUSPENDED: 1 });
  });

  it('counts only sign-ins of the last 24 hours by the service clock', async () => {
    server.clock.advance(23 * 3_600_000);
    await signIn(server, world.slug, world.as.MODERATOR.email);
    server.clock.advance(2 * 3_600_000);
    const system2 = await signInSystemAdmin(server);
    const later = await stats(system2);
    expect(later).toMatchObject({ loginsLast24h: 1, failedLoginsLast24h: 0 });
  });

  it("reads a whole page of tenants' stats in the same few statements, however long the page", async () => {
    const admin = await signInSystemAdmin(server);
    for (let i = 0; i < 4; i++) await makeTenant(server, admin);
    // Page sizes written out: the cost limit prices a variable page size as the largest page.
    const query = (n: number) =>
      `{ tenants(first: ${n}) { nodes { id settings { passwordMinLength } ${STATS} } } }`;
    await server.gql(query(1), {}, { token: admin.token });
    const counts: number[] = [];
    let nodes: { stats: Stats }[] = [];
    for (const n of [1, 6]) {
      counts.push(
        await countStatements(server, async () => {
          nodes = ok(await server.gql(query(n), {}, { token: admin.token })).tenants.nodes;
        }),
      );
    }
    expect(nodes).toHaveLength(6);
    for (const node of nodes.slice(2)) expect(node.stats).toMatchObject({ totalUsers: 1, activeSessions: 1 });
    expect(counts[0]).toBeLessThanOrEqual(4);
    expect(counts[1]).toBe(counts[0]);
  });
});
