import { getIntrospectionQuery } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { overWebSocket } from './support/abuse-ws.js';
import { type Actor, signInSystemAdmin } from './support/fixtures.js';
import { type GraphQLResponse, useTestServer } from './support/server.js';

/**
 * Operation limits (depth 12, aliases 15, tokens 2,000, directives 50, cost 5,000) and the HTTP
 * refusals (batching, body size, CSRF). Every refusal is QUERY_REJECTED (or BAD_USER_INPUT for
 * malformed requests) and never states the limit.
 */

const server = useTestServer();
let admin: Actor;

beforeAll(async () => {
  admin = await signInSystemAdmin(server);
});

const REJECTED = 'The operation was rejected: it is too large, too deep or too complex.';

function expectRejected(response: GraphQLResponse<unknown>) {
  expect(response.status).toBe(400);
  expect(response.data ?? null).toBeNull();
  expect(response.errors).toEqual([{ message: REJECTED, extensions: { code: 'QUERY_REJECTED' } }]);
}

function expectServed(response: GraphQLResponse<unknown>) {
  expect(response.errors).toBeUndefined();
  expect(response.status).toBe(200);
}

const gql = (query: string, variables?: Record<string, unknown>) =>
  server.gql(query, variables, { token: admin.token });

/**
 * `{ me { sessions(first: 1) { user { sessions(first: 1) { … id } } } } }`: `depth` levels of
 * fields, the leaf included (one session per level: the depth limit, not the cost, decides).
 */
function nested(depth: number): string {
  let inner = 'id';
  for (let level = depth - 1; level >= 2; level--)
    inner = `${level % 2 === 0 ? 'sessions(first: 1)' : 'user'} { ${inner} }`;
  return `{ me { ${inner} } }`;
}

describe('operation limits', () => {
  it('serves depth 12 and rejects depth 13', async () => {
    expectServed(await gql(nested(12)));
    expectRejected(await gql(nested(13)));
  });

  it('serves 15 aliases and rejects 16', async () => {
    const aliased = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `t${i}: tenantInfo(slug: "system") { slug }`).join(' ')} }`;
    const served = await gql(aliased(15));
    expectServed(served);
    expect(Object.keys(served.data ?? {})).toHaveLength(15);
    expectRejected(await gql(aliased(16)));
  });

  it('serves 2,000 tokens and rejects 2,001', async () => {
    // 5 + 8 × 249 tokens of `{ me { … } }`, the rest `__typename`s at the root.
    const fields = 'id email displayName role status lastLoginAt createdAt updatedAt ';
    const tokens = (n: number) => `{ ${'__typename '.repeat(n - 5 - 8 * 249)}me { ${fields.repeat(249)}} }`;
    const served = await gql(tokens(2_000));
    expectServed(served);
    expect(served.data?.me.id).toBe(admin.userId);
    expectRejected(await gql(tokens(2_001)));
  });

  it('rejects a document too costly even to validate, e.g. thousands of fields to compare', async () => {
    expectRejected(await gql(`{ ${'__typename '.repeat(1_990)}}`));
  });

  it('serves 50 directives and rejects 51', async () => {
    const directives = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `d${i}: __typename @include(if: true)`).join(' ')} }`;
    const served = await gql(directives(50));
    expectServed(served);
    expect(Object.keys(served.data ?? {})).toHaveLength(50);
    expectRejected(await gql(directives(51)));
  });

  it('rejects an operation costing more than 5,000, page sizes given as literals or as variables', async () => {
    const fields = 'nodes { id email displayName role status createdAt updatedAt lastLoginAt }';
    // One page of 100 users costs 2,300: two are served, three are not.
    const pages = (n: number, first: string) =>
      `query${first === '$n' ? ' ($n: Int)' : ''} { ${Array.from({ length: n }, (_, i) => `p${i}: users(first: ${first}) { ${fields} }`).join(' ')} }`;
    expectServed(await gql(pages(2, '100')));
    expectRejected(await gql(pages(3, '100')));
    // A page size passed as a variable counts with its value (graphql-armor alone counted 1).
    expectServed(await gql(pages(2, '$n'), { n: 100 }));
    expectRejected(await gql(pages(3, '$n'), { n: 100 }));
    expectServed(await gql(pages(3, '$n'), { n: 20 }));
  });

  it('lets the standard introspection query (GraphiQL) through outside production', async () => {
    const answer = await server.gql(getIntrospectionQuery());
    expectServed(answer);
    expect(answer.data?.__schema.queryType.name).toBe('Query');
  });

  it('shows field suggestions outside production', async () => {
    const answer = await gql('{ mee { id } }');
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(answer.errors?.[0]?.message).toContain('Did you mean "me"?');
  });
});

describe('HTTP refusals', () => {
  async function post(body: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}`, ...headers },
      body,
    });
    type Body = Omit<GraphQLResponse<{ me: { id: string } }>, 'status' | 'headers'>;
    const answer = (await response.json()) as Body;
    return { status: response.status, headers: response.headers, ...answer };
  }

  async function signedIn(token: string): Promise<boolean> {
    return (await server.gql('{ me { id } }', {}, { token })).status === 200;
  }

  it('refuses a batch (an array body) without running any of it', async () => {
    const session = await signInSystemAdmin(server);
    const answer = await post(
      JSON.stringify([{ query: 'mutation { logout }' }, { query: '{ me { id } }' }]),
      {
        authorization: `Bearer ${session.token}`,
      },
    );
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await signedIn(session.token)).toBe(true);
  });

  it('serves a request body just under 100 kB and refuses one over it with 413', async () => {
    const query = '{ me { id } }';
    const padded = (size: number) => {
      const body = JSON.stringify({ query, variables: { pad: '' } });
      return JSON.stringify({ query, variables: { pad: 'x'.repeat(size - body.length) } });
    };
    const served = await post(padded(100 * 1024 - 10));
    expect(served.status).toBe(200);
    expect(served.data?.me.id).toBe(admin.userId);
    const refused = await post(padded(100 * 1024 + 10));
    expect(refused.status).toBe(413);
    expect(refused.errors).toEqual([
      { message: expect.not.stringMatching(/\d/), extensions: { code: 'QUERY_REJECTED' } },
    ]);
  });

  it('refuses a text/plain POST (CSRF) without running it', async () => {
    const session = await signInSystemAdmin(server);
    const answer = await post(JSON.stringify({ query: 'mutation { logout }' }), {
      'content-type': 'text/plain',
      authorization: `Bearer ${session.token}`,
    });
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await signedIn(session.token)).toBe(true);
  });

  it('refuses a mutation sent with GET (405) and a GET without a preflight header, but serves a GET query', async () => {
    const session = await signInSystemAdmin(server);
    const get = (query: string, headers: Record<string, string>) =>
      fetch(`${server.url}/graphql?query=${encodeURIComponent(query)}`, {
        headers: { authorization: `Bearer ${session.token}`, ...headers },
      });
    const mutation = await get('mutation { logout }', { 'apollo-require-preflight': 'true' });
    expect(mutation.status).toBe(405);
    expect(mutation.headers.get('allow')).toBe('POST');
    expect(((await mutation.json()) as GraphQLResponse).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await signedIn(session.token)).toBe(true);

    const noPreflight = await get('{ me { id } }', {});
    expect(noPreflight.status).toBe(400);
    expect(((await noPreflight.json()) as GraphQLResponse).errors?.[0]?.extensions?.code).toBe(
      'BAD_USER_INPUT',
    );

    const query = await get('{ me { id } }', { 'apollo-require-preflight': 'true' });
    expect(query.status).toBe(200);
    expect(((await query.json()) as GraphQLResponse<{ me: { id: string } }>).data?.me.id).toBe(
      session.userId,
    );
  });
});

describe('over the WebSocket', () => {
  it('applies the same limits as HTTP', async () => {
    const served = await overWebSocket(server, admin.token, nested(12));
    expect(served.errors).toBeUndefined();
    expect(JSON.stringify(served.data)).toContain(admin.userId);
    for (const rejected of [
      nested(13),
      `{ ${Array.from({ length: 16 }, (_, i) => `t${i}: tenantInfo(slug: "system") { slug }`).join(' ')} }`,
      `{ ${'__typename '.repeat(2_001)}}`,
      `{ ${Array.from({ length: 3 }, (_, i) => `p${i}: users(first: 100) { nodes { id email displayName role status createdAt updatedAt lastLoginAt } }`).join(' ')} }`,
    ]) {
      const answer = await overWebSocket(server, admin.token, rejected);
      expect(answer.errors).toMatchObject([{ message: REJECTED, extensions: { code: 'QUERY_REJECTED' } }]);
    }
    const invalid = await overWebSocket(server, admin.token, '{ mee { id } }');
    expect(invalid.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
