import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  countStatements,
  makeTenant,
  makeUser,
  ok,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const NESTED = `query ($first: Int, $tenantId: ID) {
  users(first: $first, tenantId: $tenantId) { totalCount nodes { id tenant { name } sessions(first: 2) { id } } }
}`;

const FILTERED = `query ($filter: UserFilter, $first: Int) {
  users(filter: $filter, first: $first) { totalCount nodes { id email displayName role status } }
}`;

interface FilteredPage {
  users: {
    totalCount: number;
    nodes: { id: string; email: string; displayName: string | null; role: string; status: string }[];
  };
}

describe('users: filters, search and the cost of nested fields', () => {
  const server = useTestServer();
  let system: Actor;
  let crowd: TenantHandle;
  let small: TenantHandle;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    crowd = await makeTenant(server, system);
    // 105 users with a session each, so that a page of 100 has 100 users' sessions to load.
    for (let batch = 0; batch < 7; batch++) {
      await Promise.all(
        Array.from({ length: 15 }, async () => {
          const user = await makeUser(server, crowd.admin);
          await signIn(server, crowd.slug, user.email);
        }),
      );
    }
    small = await makeTenant(server, system);
    const people: [string, string | null, 'USER' | 'MODERATOR' | 'GUEST'][] = [
      ['alice.smith@example.test', 'Alice Smith', 'USER'],
      ['bob@example.test', 'Bobby Alison', 'MODERATOR'],
      ['carol@example.test', 'Carol 100% Real', 'GUEST'],
      ['dave_x@example.test', null, 'USER'],
      ['davexy@example.test', 'Dave', 'USER'],
    ];
    for (const [email, displayName, role] of people) {
      await makeUser(server, small.admin, { email, displayName, role });
    }
  });

  async function filtered(filter: Record<string, unknown>, token = small.admin.token) {
    return server.gql<FilteredPage>(FILTERED, { filter, first: 100 }, { token });
  }
  const emails = (data: FilteredPage) => data.users.nodes.map((n) => n.email).sort();

  it('runs the same few statements for a page of 100 with tenants and sessions as for a page of 5', async () => {
    const token = crowd.admin.token;
    await server.gql(NESTED, { first: 1 }, { token }); // warm-up: the first request also checks the session
    const results: Record<number, unknown> = {};
    const counts: number[] = [];
    for (const first of [5, 100]) {
      counts.push(
        await countStatements(server, async () => {
          results[first] = ok(await server.gql(NESTED, { first }, { token }));
        }),
      );
    }
    const page = results[100] as { users: { nodes: { tenant: { name: string }; sessions: unknown[] }[] } };
    expect(page.users.nodes).toHaveLength(100);
    for (const node of page.users.nodes) {
      expect(node.tenant.name).toBe(`Tenant ${crowd.slug}`);
      expect(node.sessions.length).toBeGreaterThanOrEqual(1);
    }
    expect(counts[0]).toBeLessThanOrEqual(4);
    expect(counts[1]).toBe(counts[0]);
  });

  it('answers the same, in as many statements, when the rows and their sessions come through fragments', async () => {
    const token = crowd.admin.token;
    const direct = ok(await server.gql(NESTED, { first: 10 }, { token }));
    const FRAGMENTS = `query ($first: Int) {
      users(first: $first) { totalCount ...Page }
    }
    fragment Page on UserConnection { edges { node { ...Row } } nodes { id tenant { name } ... on User { sessions(first: 2) { id } } } }
    fragment Row on User { id sessions(first: 2) { id } }`;
    let viaFragments: { users: { nodes: unknown[]; edges: { node: { sessions: unknown[] } }[] } } | undefined;
    const count = await countStatements(server, async () => {
      viaFragments = ok(await server.gql(FRAGMENTS, { first: 10 }, { token }));
    });
    expect(viaFragments?.users.nodes).toEqual((direct as { users: { nodes: unknown[] } }).users.nodes);
    expect(viaFragments?.users.edges.every((edge) => edge.node.sessions.length >= 1)).toBe(true);
    expect(count).toBeLessThanOrEqual(4);
  });

  it('keeps that bound when a system ADMIN reads another tenant through tenantId', async () => {
    await server.gql(NESTED, { first: 1, tenantId: crowd.id }, { token: system.token });
    let data: { users: { nodes: { tenant: { name: string }; sessions: unknown[] }[] } } | undefined;
    const count = await countStatements(server, async () => {
      data = ok(await server.gql(NESTED, { first: 100, tenantId: crowd.id }, { token: system.token }));
    });
    expect(data?.users.nodes).toHaveLength(100);
    expect(
      data?.users.nodes.every((n) => n.tenant.name === `Tenant ${crowd.slug}` && n.sessions.length > 0),
    ).toBe(true);
    expect(count).toBeLessThanOrEqual(4);
  });

  it('filters by role and by status, with a matching totalCount', async () => {
    const moderators = ok(await filtered({ role: 'MODERATOR' }));
    expect(emails(moderators)).toEqual(['bob@example.test']);
    expect(moderators.users.totalCount).toBe(1);
    const dave = ok(await filtered({ search: 'davexy' })).users.nodes[0];
    ok(
      await server.gql(
        'mutation ($id: ID!) { updateUser(id: $id, input: { status: SUSPENDED }) { id } }',
        { id: dave?.id },
        { token: small.admin.token },
      ),
    );
    expect(emails(ok(await filtered({ status: 'SUSPENDED' })))).toEqual(['davexy@example.test']);
    const activeUsers = ok(await filtered({ status: 'ACTIVE', role: 'USER' }));
    expect(emails(activeUsers)).toEqual(['alice.smith@example.test', 'dave_x@example.test']);
    expect(activeUsers.users.totalCount).toBe(2);
  });

  it('searches email and display name case-insensitively, as a substring', async () => {
    expect(emails(ok(await filtered({ search: 'ALI' })))).toEqual([
      'alice.smith@example.test',
      'bob@example.test',
    ]);
    expect(emails(ok(await filtered({ search: 'smith@EXAMPLE' })))).toEqual(['alice.smith@example.test']);
    expect(emails(ok(await filtered({ search: '  bobby  ' })))).toEqual(['bob@example.test']);
    expect(emails(ok(await filtered({ search: 'bobby alison' })))).toEqual(['bob@example.test']);
    // A match lies within the email or within the display name, never across the two.
    expect(ok(await filtered({ search: 'example.test alice' })).users.totalCount).toBe(0);
    expect(ok(await filtered({ search: 'nobody-has-this' })).users).toEqual({ totalCount: 0, nodes: [] });
    // An empty search is no filter at all.
    expect(ok(await filtered({ search: '   ' })).users.totalCount).toBe(6);
  });

  it('treats % and _ in a search as the characters themselves', async () => {
    expect(emails(ok(await filtered({ search: '%' })))).toEqual(['carol@example.test']);
    expect(emails(ok(await filtered({ search: '0% r' })))).toEqual(['carol@example.test']);
    expect(emails(ok(await filtered({ search: 'dave_' })))).toEqual(['dave_x@example.test']);
    expect(emails(ok(await filtered({ search: '\\' })))).toEqual([]);
  });

  it('rejects a search that is too long, naming the field', async () => {
    const response = await filtered({ search: 'x'.repeat(300) });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'filter.search', message: expect.any(String) },
    ]);
  });

  it('rejects an unknown role or order field before running anything', async () => {
    const response = await server.gql(
      '{ users(filter: { role: OWNER }) { totalCount } }',
      {},
      { token: small.admin.token },
    );
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    const order = await server.gql(
      '{ users(orderBy: { field: PASSWORD, direction: ASC }) { totalCount } }',
      {},
      { token: small.admin.token },
    );
    expect(errorCode(order)).toBe('BAD_USER_INPUT');
  });
});
