import { beforeAll, describe, expect, it } from 'vitest';
import { listUsers, type SearchPlan } from '../src/modules/users/users.queries.js';
import {
  type Actor,
  makeTenant,
  makeUser,
  ok,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

const USERS = `query ($first: Int, $after: String, $orderBy: UserOrder, $filter: UserFilter) {
  users(first: $first, after: $after, orderBy: $orderBy, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id email displayName createdAt lastLoginAt }
  }
}`;

interface Row {
  id: string;
  email: string;
  displayName: string | null;
  createdAt: string;
  lastLoginAt: string | null;
}
interface UsersPage {
  totalCount: number;
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  edges: { cursor: string; node: { id: string } }[];
  nodes: Row[];
}
type Field = 'CREATED_AT' | 'EMAIL' | 'DISPLAY_NAME' | 'LAST_LOGIN_AT';
type Direction = 'ASC' | 'DESC';

describe('users: keyset pagination', () => {
  const server = useTestServer();
  let tenant: TenantHandle;
  let admin: Actor;
  let total: number;

  beforeAll(async () => {
    tenant = await makeTenant(server, await signInSystemAdmin(server));
    admin = tenant.admin;
    // 64 more users in batches that share a creation instant, with repeated display names
    // (also differing only in case), missing names, and sign-ins that share an instant.
    const names = (i: number) =>
      i % 5 === 0 ? null : i % 5 === 1 ? 'Same Name' : i % 5 === 2 ? 'same NAME' : `Person ${i % 7}`;
    const created: { email: string }[] = [];
    for (let batch = 0; batch < 8; batch++) {
      server.clock.advance(1_000);
      created.push(
        ...(await Promise.all(
          Array.from({ length: 8 }, (_, k) =>
            makeUser(server, admin, { displayName: names(batch * 8 + k), email: `p${batch}x${k}@walk.test` }),
          ),
        )),
      );
    }
    // Two of every three sign in; each pair shares its instant, the rest never sign in.
    for (const [i, user] of created.entries()) {
      if (i % 3 === 2) continue;
      if (i % 3 === 0) server.clock.advance(10);
      await signIn(server, tenant.slug, user.email);
    }
    total = created.length + 1;
  });

  async function page(variables: Record<string, unknown>) {
    return server.gql<{ users: UsersPage }>(USERS, variables, { token: admin.token });
  }

  async function walk(field: Field, direction: Direction, first: number): Promise<Row[]> {
    const rows: Row[] = [];
    let after: string | null = null;
    for (let i = 0; i < 100; i++) {
      const { users }: { users: UsersPage } = ok(await page({ first, after, orderBy: { field, direction } }));
      expect(users.totalCount).toBe(total);
      expect(users.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(users.edges.map((e) => e.node.id)).toEqual(users.nodes.map((n) => n.id));
      expect(users.pageInfo.startCursor).toBe(users.edges[0]?.cursor ?? null);
      expect(users.pageInfo.endCursor).toBe(users.edges.at(-1)?.cursor ?? null);
      rows.push(...users.nodes);
      if (!users.pageInfo.hasNextPage) return rows;
      expect(users.nodes).toHaveLength(first);
      after = users.pageInfo.endCursor;
    }
    throw new Error('the walk did not end');
  }

  const timestampValue = (field: Field, row: Row) =>
    field === 'CREATED_AT'
      ? Date.parse(row.createdAt)
      : row.lastLoginAt === null
        ? Number.NEGATIVE_INFINITY
        : Date.parse(row.lastLoginAt);

  const groupKey = (field: Field, row: Row) =>
    field === 'EMAIL'
      ? row.email.toLowerCase()
      : field === 'DISPLAY_NAME'
        ? (row.displayName ?? '').toLowerCase()
        : timestampValue(field, row);

  it('has the ties the walk is meant to exercise', async () => {
    const { users } = ok(await page({ first: 100 }));
    const rows = users.nodes as Row[];
    const count = (pred: (r: Row) => boolean) => rows.filter(pred).length;
    expect(count((r) => r.displayName?.toLowerCase() === 'same name')).toBeGreaterThan(10);
    expect(count((r) => r.lastLoginAt === null)).toBeGreaterThan(20);
    expect(new Set(rows.map((r) => r.createdAt)).size).toBeLessThan(12);
    expect(new Set(rows.map((r) => r.lastLoginAt)).size).toBeLessThan(rows.length / 2);
  });

  for (const field of ['CREATED_AT', 'EMAIL', 'DISPLAY_NAME', 'LAST_LOGIN_AT'] as Field[]) {
    for (const direction of ['ASC', 'DESC'] as Direction[]) {
      it(`walks ${field} ${direction} page by page, returning every user exactly once in order`, async () => {
        const walked = await walk(field, direction, 7);
        const ids = walked.map((r) => r.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toHaveLength(total);
        // The walk matches the whole list read at once.
        const { users } = ok(await page({ first: 100, orderBy: { field, direction } }));
        expect(ids).toEqual(users.nodes.map((n) => n.id));
        // Equal sort values sit together, ordered by id in the same direction.
        const sign = direction === 'ASC' ? 1 : -1;
        const seenGroups = new Set<unknown>();
        for (let i = 1; i < walked.length; i++) {
          const [prev, next] = [walked[i - 1] as Row, walked[i] as Row];
          const [a, b] = [groupKey(field, prev), groupKey(field, next)];
          if (a === b) {
            expect(sign * prev.id.localeCompare(next.id)).toBeLessThan(0);
          } else {
            expect(seenGroups.has(b)).toBe(false);
            seenGroups.add(a);
            // Between groups, the ordering itself: timestamps as numbers, text as lowercase strings
            // (only ASCII letters, digits and '@.- ' here, which every collation orders alike).
            expect(sign * (a < b ? -1 : 1), `${String(a)} then ${String(b)}`).toBeLessThan(0);
          }
        }
      });
    }
  }

  it('pages through a filtered list with the filter applied on every page', async () => {
    const filter = { search: 'same name' };
    const seen: string[] = [];
    let after: string | null = null;
    let totalCount = 0;
    do {
      const { users }: { users: UsersPage } = ok(
        await page({ first: 4, after, filter, orderBy: { field: 'DISPLAY_NAME', direction: 'DESC' } }),
      );
      totalCount = users.totalCount;
      for (const node of users.nodes as Row[]) expect(node.displayName?.toLowerCase()).toBe('same name');
      seen.push(...users.nodes.map((n) => n.id));
      after = users.pageInfo.hasNextPage ? users.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toHaveLength(totalCount);
    expect(new Set(seen).size).toBe(totalCount);
    // Every match ties on the display name, so the order is the tie-break: id, descending too.
    expect(seen).toEqual([...seen].sort((x, y) => y.localeCompare(x)));
  });

  it('sizes pages: default 20, 0 allowed, at most 100, never negative', async () => {
    expect(ok(await page({})).users.nodes).toHaveLength(20);
    const empty = ok(await page({ first: 0 })).users;
    expect(empty.nodes).toEqual([]);
    expect(empty.pageInfo).toMatchObject({ hasNextPage: true, startCursor: null, endCursor: null });
    for (const first of [101, -1]) {
      const response = await page({ first });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'first', message: expect.any(String) },
      ]);
    }
  });

  it('rejects malformed cursors and cursors of another ordering with BAD_USER_INPUT', async () => {
    const byEmail = ok(await page({ first: 3, orderBy: { field: 'EMAIL', direction: 'ASC' } })).users;
    const emailCursor = byEmail.edges[1]?.cursor as string;
    const byCreated = ok(await page({ first: 2 })).users.pageInfo.endCursor as string;
    const decoded = JSON.parse(Buffer.from(byCreated, 'base64url').toString());
    const forged = (value: unknown) =>
      Buffer.from(JSON.stringify({ ...decoded, v: value })).toString('base64url');
    const cases: [string, Record<string, unknown>][] = [
      ['not a cursor!', {}],
      [Buffer.from('{"broken json').toString('base64url'), {}],
      [emailCursor, { orderBy: { field: 'CREATED_AT', direction: 'ASC' } }],
      [emailCursor, { orderBy: { field: 'EMAIL', direction: 'DESC' } }],
      [byCreated, { orderBy: { field: 'LAST_LOGIN_AT', direction: 'ASC' } }],
      [forged('2024-02-30T10:00:00.000000'), {}],
      [forged('yesterday'), {}],
      [forged(42), {}],
      [Buffer.from(JSON.stringify({ ...decoded, id: 'nope' })).toString('base64url'), {}],
    ];
    for (const [after, extra] of cases) {
      const response = await page({ first: 2, after, ...extra });
      expect(errorCode(response), after).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'after', message: expect.any(String) },
      ]);
    }
    // The same cursors work where they belong.
    expect(ok(await page({ first: 2, after: byCreated })).users.nodes).toHaveLength(2);
    const next = ok(
      await page({ first: 2, after: emailCursor, orderBy: { field: 'EMAIL', direction: 'ASC' } }),
    );
    expect(next.users.nodes[0]?.id).toBe(byEmail.nodes[2]?.id);
  });
});

describe('users: search as a substring filter over the ordered list', () => {
  const server = useTestServer();
  let tenant: TenantHandle;
  let admin: Actor;

  // Emails and display names chosen for the cases a search must get right: case, LIKE's own
  // characters (a pattern that left them as wildcards would also match the look-alikes), ties in
  // every order, missing names, and terms found only across the two fields (never a match).
  const PEOPLE: [string, string | null][] = [
    ['ann.lee@search.test', 'Ann Lee'],
    ['anna.kim@search.test', 'ANNA KIM'],
    ['leeann@search.test', 'Lee Ann-Marie'],
    ['x_y@search.test', null],
    ['xay@search.test', 'Xay'],
    ['p100@search.test', '100% Lee'],
    ['p1000@search.test', '1000 Lee'],
    ['bs@search.test', 'Back\\Slash'],
    ['bsx@search.test', 'BackXSlash'],
    ['kim@search.test', 'Kim Lee'],
    ['q@search.test', null],
    ['under_score@search.test', 'Under_Score'],
  ];

  beforeAll(async () => {
    // A fixed slug: the admin's email (admin@srch.test) is among the rows searched.
    tenant = await makeTenant(server, await signInSystemAdmin(server), { slug: 'srch' });
    admin = tenant.admin;
    server.clock.advance(1_000);
    for (const [email, displayName] of PEOPLE) {
      server.clock.advance(5);
      await makeUser(server, admin, { email, displayName });
    }
    // Seven users created at one instant with one name: ties in every order, broken by id.
    server.clock.advance(1_000);
    await Promise.all(
      Array.from({ length: 7 }, (_, k) =>
        makeUser(server, admin, {
          email: `same${k}@search.test`,
          displayName: k % 2 ? 'Same Person' : 'same PERSON',
        }),
      ),
    );
    // Some sign in (two of them at one instant), the rest never do.
    for (const email of ['ann.lee@search.test', 'same1@search.test', 'same2@search.test', 'q@search.test']) {
      if (email !== 'same2@search.test') server.clock.advance(10);
      await signIn(server, tenant.slug, email);
    }
  });

  const ORDERS: { field: Field; direction: Direction }[] = [
    { field: 'CREATED_AT', direction: 'ASC' },
    { field: 'CREATED_AT', direction: 'DESC' },
    { field: 'EMAIL', direction: 'DESC' },
    { field: 'DISPLAY_NAME', direction: 'ASC' },
    { field: 'LAST_LOGIN_AT', direction: 'DESC' },
  ];

  async function page(variables: Record<string, unknown>) {
    return server.gql<{ users: UsersPage }>(USERS, variables, { token: admin.token });
  }

  /** Every page of a search, checking each page's own fields on the way. */
  async function walk(search: string, orderBy: (typeof ORDERS)[number], first: number) {
    const ids: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 100; i++) {
      const { users }: { users: UsersPage } = ok(await page({ first, after, orderBy, filter: { search } }));
      expect(users.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(users.edges.map((e) => e.node.id)).toEqual(users.nodes.map((n) => n.id));
      ids.push(...users.nodes.map((n) => n.id));
      if (!users.pageInfo.hasNextPage) return { ids, totalCount: users.totalCount };
      expect(users.nodes).toHaveLength(first);
      after = users.pageInfo.endCursor;
    }
    throw new Error('the walk did not end');
  }

  /** What a search must return: the unfiltered list in the same order, filtered here. */
  async function expected(search: string, orderBy: (typeof ORDERS)[number]) {
    const { users } = ok(await page({ first: 100, orderBy }));
    expect(users.pageInfo.hasNextPage).toBe(false);
    const term = search.trim().toLowerCase();
    return (users.nodes as Row[])
      .filter((r) => `${r.email.toLowerCase()}\n${(r.displayName ?? '').toLowerCase()}`.includes(term))
      .map((r) => r.id);
  }

  // 1, 2 and 3 characters; with and without a trigram; LIKE's characters alone and inside
  // words; case; a term matching every user and terms matching none.
  const TERMS: [string, number | 'all'][] = [
    ['a', 'all'],
    ['Q', 1],
    ['@', 'all'],
    ['ee', 5],
    ['EE', 5],
    ['lee', 5],
    ['ANN', 3],
    ['Ann-M', 1],
    ['ann lee', 1],
    ['  kim  ', 2],
    ['%', 1],
    ['0%', 1],
    ['100%', 1],
    ['_', 2],
    ['x_y', 1],
    ['r_s', 1],
    ['\\', 1],
    ['k\\s', 1],
    ['same person', 7],
    ['.test', 'all'],
    ['search.test', 19],
    ['zz', 0],
    ['nobody-has-this', 0],
  ];

  for (const [search, count] of TERMS) {
    it(`finds ${JSON.stringify(search)} in every order, page by page, as the filtered full list`, async () => {
      const all = (ok(await page({ first: 100 })).users as UsersPage).totalCount;
      for (const orderBy of ORDERS) {
        const want = await expected(search, orderBy);
        expect(want.length, `${search} ${orderBy.field}`).toBe(count === 'all' ? all : count);
        const walked = await walk(search, orderBy, 3);
        expect(walked.ids, `${search} ${orderBy.field} ${orderBy.direction}`).toEqual(want);
        expect(walked.totalCount).toBe(want.length);
      }
    });
  }

  it('reads 1- and 2-character terms along the order, and lets PostgreSQL plan the others', async () => {
    const plans: Record<string, SearchPlan[]> = {};
    for (const term of ['a', 'ee', '%_', 'a.b', 'lee', 'ann lee', '100%', 'Zoë']) {
      plans[term] = [];
      await listUsers(
        server.testDatabase.database.db,
        {
          tenantId: tenant.id,
          first: 5,
          after: null,
          search: term,
          role: null,
          status: null,
          field: 'CREATED_AT',
          direction: 'ASC',
        },
        (plan) => plans[term]?.push(plan),
      );
    }
    expect(plans).toEqual({
      a: ['ordered'],
      ee: ['ordered'],
      '%_': ['ordered'],
      'a.b': ['ordered'],
      lee: ['planned'],
      'ann lee': ['planned'],
      '100%': ['planned'],
      Zoë: ['planned'],
    });
  });
});
