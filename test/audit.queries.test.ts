import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  attemptLogin,
  makeTenant,
  makeWorld,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  type TenantWorld,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/** auditEvents: who may read which tenant's trail, filters, order and keyset pagination. */

const server = useTestServer();
let system: Actor;
let a: TenantWorld;
let b: TenantHandle;
/** Times (ISO) at which tenant A's three batches of failed sign-ins happened. */
const batches: string[] = [];

const QUERY = `query ($first: Int, $after: String, $filter: AuditEventFilter, $tenantId: ID) {
  auditEvents(first: $first, after: $after, filter: $filter, tenantId: $tenantId) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id tenantId actorId actor { id } action targetId createdAt }
  }
}`;

interface Node {
  id: string;
  tenantId: string;
  actorId: string | null;
  actor: { id: string } | null;
  action: string;
  targetId: string | null;
  createdAt: string;
}

// 50 a page: a page of 100 of this selection (edges and nodes) costs more than 5,000.
const list = (actor: Actor | null, variables: Record<string, unknown> = {}) =>
  server.gql(QUERY, { first: 50, ...variables }, { token: actor?.token });

async function nodes(actor: Actor, variables: Record<string, unknown> = {}): Promise<Node[]> {
  const answer = await list(actor, variables);
  expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
  return answer.data?.auditEvents.nodes;
}

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  a = await makeWorld(server, system);
  b = await makeTenant(server, system);
  await signIn(server, b.slug, b.admin.email);
  // Tenant A: three batches of five failed sign-ins, a minute apart; five events share each time.
  for (let batch = 0; batch < 3; batch++) {
    server.clock.advance(60_000);
    batches.push(server.clock.now().toISOString());
    for (let i = 0; i < 5; i++)
      await attemptLogin(server, a.slug, `ghost${i}@example.test`, 'Wrong passphrase 1!');
  }
  server.clock.advance(60_000);
  await attemptLogin(server, b.slug, 'ghost@example.test', 'Wrong passphrase 1!');
});

describe('who reads which trail', () => {
  it('shows a tenant ADMIN their own tenant’s events only, never another tenant’s', async () => {
    const ofA = await nodes(a.admin);
    const ofB = await nodes(b.admin);
    const ofBBySystem = await nodes(system, { tenantId: b.id });
    expect(ofA.length).toBeGreaterThan(15);
    expect(new Set(ofA.map((e) => e.tenantId))).toEqual(new Set([a.id]));
    expect(new Set(ofB.map((e) => e.tenantId))).toEqual(new Set([b.id]));
    expect(ofBBySystem.map((e) => e.id)).toEqual(ofB.map((e) => e.id));
    const idsOfB = new Set(ofB.map((e) => e.id));
    expect(ofA.filter((e) => idsOfB.has(e.id))).toEqual([]);
    // The events of B's own sign-ins are there for B, with their actor.
    const signedIn = ofB.find((e) => e.action === 'auth.login.succeeded');
    expect(signedIn?.actor?.id).toBe(b.admin.userId);
  });

  it('refuses another tenantId to a tenant ADMIN with FORBIDDEN, and accepts their own', async () => {
    const refused = await list(a.admin, { tenantId: b.id });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(refused.data ?? null).toBeNull();
    const own = await nodes(a.admin, { tenantId: a.id });
    // The refusal itself is on A's record now, for A's ADMIN only.
    expect(own[0]?.action).toBe('authz.denied');
    expect(own[0]?.actorId).toBe(a.admin.userId);
    expect(own.slice(1).map((e) => e.id)).toEqual((await nodes(a.admin)).slice(1).map((e) => e.id));
  });

  it('is for ADMINs: MODERATOR, USER and GUEST get FORBIDDEN, anonymous callers UNAUTHENTICATED', async () => {
    for (const role of ['MODERATOR', 'USER', 'GUEST'] as const) {
      expect((await list(a.as[role])).errors?.[0]?.extensions?.code, role).toBe('FORBIDDEN');
    }
    expect((await list(null)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('lets system ADMINs read any tenant by tenantId, and their own tenant without it', async () => {
    const ofA = await nodes(system, { tenantId: a.id });
    expect(ofA.map((e) => e.id)).toEqual((await nodes(a.admin)).map((e) => e.id));
    const own = await nodes(system);
    expect(new Set(own.map((e) => e.tenantId))).toEqual(new Set([system.tenantId]));
    expect(own.filter((e) => e.action === 'tenant.created').map((e) => e.targetId)).toEqual(
      expect.arrayContaining([a.id, b.id]),
    );
    // An unknown tenant has no events; a malformed id is BAD_USER_INPUT.
    expect(await nodes(system, { tenantId: '01890000-0000-7000-8000-000000000000' })).toEqual([]);
    expect((await list(system, { tenantId: 'nope' })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('filters', () => {
  it('match an exact action, or a prefix ending in "."', async () => {
    const failed = await nodes(a.admin, { filter: { action: 'auth.login.failed' } });
    expect(failed).toHaveLength(15);
    expect(new Set(failed.map((e) => e.action))).toEqual(new Set(['auth.login.failed']));
    const logins = await nodes(a.admin, { filter: { action: 'auth.login.' } });
    expect(new Set(logins.map((e) => e.action))).toEqual(
      new Set(['auth.login.failed', 'auth.login.succeeded']),
    );
    const auth = await nodes(a.admin, { filter: { action: 'auth.' } });
    expect(auth.length).toBe(logins.length);
    expect(await nodes(a.admin, { filter: { action: 'auth.login' } })).toEqual([]);
    const users = await nodes(a.admin, { filter: { action: 'user.' } });
    expect(users.map((e) => e.action)).toEqual(Array(4).fill('user.created'));
    const bad = await list(a.admin, { filter: { action: "auth.%' or 1=1 --" } });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'filter.action', message: expect.any(String) },
    ]);
  });

  it('match an actor and a target', async () => {
    const byAdmin = await nodes(a.admin, { filter: { actorId: a.admin.userId } });
    expect(byAdmin.length).toBeGreaterThan(0);
    expect(byAdmin.every((e) => e.actorId === a.admin.userId)).toBe(true);
    const moderator = a.as.MODERATOR.userId;
    const aboutModerator = await nodes(a.admin, { filter: { targetId: moderator } });
    expect(aboutModerator.map((e) => e.action)).toEqual(['user.created']);
    expect(aboutModerator[0]?.actorId).toBe(a.admin.userId);
  });

  it('match a time range, both ends included', async () => {
    const middle = await nodes(a.admin, { filter: { since: batches[1], until: batches[1] } });
    expect(middle).toHaveLength(5);
    expect(new Set(middle.map((e) => e.createdAt))).toEqual(new Set([batches[1]]));
    const lastTwo = await nodes(a.admin, { filter: { since: batches[1], action: 'auth.login.failed' } });
    expect(lastTwo).toHaveLength(10);
    const firstOne = await nodes(a.admin, { filter: { until: batches[0], action: 'auth.login.failed' } });
    expect(firstOne).toHaveLength(5);
    const reversed = await list(a.admin, { filter: { since: batches[2], until: batches[0] } });
    expect(reversed.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('order and pagination', () => {
  it('lists newest first, ties broken by id, and walks every event exactly once, page by page', async () => {
    const all = await nodes(a.admin);
    for (let i = 1; i < all.length; i++) {
      const [newer, older] = [all[i - 1] as Node, all[i] as Node];
      expect(newer.createdAt >= older.createdAt).toBe(true);
      if (newer.createdAt === older.createdAt) expect(newer.id > older.id).toBe(true);
    }
    const walked: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const answer = await list(a.admin, { first: 4, after });
      expect(answer.errors).toBeUndefined();
      const connection = answer.data?.auditEvents;
      expect(connection.totalCount).toBe(all.length + (page === 0 ? 0 : 1));
      expect(connection.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(connection.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(
        connection.nodes.map((n: Node) => n.id),
      );
      walked.push(...connection.nodes.map((n: Node) => n.id));
      if (page === 0) {
        // A newer event arriving mid-walk does not shift the pages still to come.
        server.clock.advance(60_000);
        await attemptLogin(server, a.slug, 'late@example.test', 'Wrong passphrase 1!');
      }
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(walked).toEqual(all.map((e) => e.id));
  });

  it('refuses a page over 100 and a cursor that is not one of its own', async () => {
    const tooMany = await server.gql(
      '{ auditEvents(first: 101) { totalCount } }',
      {},
      { token: a.admin.token },
    );
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(tooMany.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'first', message: expect.any(String) },
    ]);
    expect((await list(a.admin, { after: 'bm90IGEgY3Vyc29y' })).errors?.[0]?.extensions?.code).toBe(
      'BAD_USER_INPUT',
    );
    const users = await server.gql(
      '{ users(first: 1) { pageInfo { endCursor } } }',
      {},
      { token: a.admin.token },
    );
    const foreign = users.data?.users.pageInfo.endCursor;
    expect((await list(a.admin, { after: foreign })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
