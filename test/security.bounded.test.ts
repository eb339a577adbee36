import {
  buildClientSchema,
  type GraphQLSchema,
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  getOperationAST,
  isListType,
  isObjectType,
  parse,
} from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIST_SIZES, MAX_COST, operationCost } from '../src/modules/abuse/query-limits.js';
import { overWebSocket } from './support/abuse-ws.js';
import {
  type Actor,
  auditTrail,
  makeActor,
  makeTenant,
  ok,
  signIn,
  signInSystemAdmin,
  tokenWorks,
} from './support/fixtures.js';
import { type GraphQLResponse, useTestServer } from './support/server.js';

/**
 * Every list of an answer is bounded, and the operation cost counts every list at its bound:
 * a document whose answer would grow exponentially is refused before it runs, and any document
 * that is served has an answer no larger than its cost.
 */

const REJECTED = 'The operation was rejected: it is too large, too deep or too complex.';

/** `me { sessions { user { sessions { … { id } } } } }` with `levels` lists of sessions. */
function sessionsTower(levels: number, first?: number): string {
  const sessions = first === undefined ? 'sessions' : `sessions(first: ${first})`;
  let inner = 'id';
  for (let level = 0; level < levels; level++) inner = `${sessions} { user { ${inner} } }`;
  return `{ me { ${inner} } }`;
}

/** How many objects an answer holds (every object in the cost model costs at least 2). */
function objectsIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + objectsIn(item), 0);
  if (value && typeof value === 'object') {
    return 1 + Object.values(value).reduce((sum: number, item) => sum + objectsIn(item), 0);
  }
  return 0;
}

describe('security: bounded answers', () => {
  const server = useTestServer({ MAX_SESSIONS_PER_USER: '12' });
  let system: Actor;
  let crowded: Actor;
  let schema: GraphQLSchema;

  beforeAll(async () => {
    system = await signInSystemAdmin(server);
    const tenant = await makeTenant(server, system);
    // A user with as many sessions as the limit allows, as in the published attack (12).
    crowded = await makeActor(server, tenant, 'USER');
    for (let i = 0; i < 11; i++) crowded = await signIn(server, tenant.slug, crowded.email);
    schema = buildClientSchema(ok(await server.gql(getIntrospectionQuery())) as never);
  });

  const expectRejected = (response: GraphQLResponse<unknown>) => {
    expect(response.errors).toEqual([{ message: REJECTED, extensions: { code: 'QUERY_REJECTED' } }]);
    expect(response.data ?? null).toBeNull();
  };

  it('rejects the exponential document of the published attack, over HTTP and WebSocket', async () => {
    const attack = sessionsTower(5);
    const response = await server.gql(attack, {}, { token: crowded.token });
    expect(response.status).toBe(400);
    expectRejected(response);
    expectRejected((await overWebSocket(server, crowded.token, attack)) as GraphQLResponse<unknown>);
    // Already two levels of a user's full session lists are more than one operation may ask.
    expectRejected(await server.gql(sessionsTower(3), {}, { token: crowded.token }));
  });

  it('serves any document within the cost with an answer no larger than its cost', async () => {
    const documents: string[] = [];
    for (let levels = 1; levels <= 5; levels++) {
      for (const first of [undefined, 1, 2, 3, 5, 12, 50]) documents.push(sessionsTower(levels, first));
    }
    documents.push(
      '{ mySessions { id user { id sessions { id } } } }',
      '{ users(first: 100) { nodes { id sessions(first: 3) { id user { id } } } } }',
      '{ users { edges { node { sessions { id } } } nodes { sessions(first: 12) { id } } } }',
    );
    let served = 0;
    for (const document of documents) {
      const response = await server.gql(document, {}, { token: system.token });
      const me = await server.gql(document, {}, { token: crowded.token });
      for (const answer of [response, me]) {
        // Refused documents (too costly; users pages for the USER) have no answer to measure.
        const code = answer.errors?.[0]?.extensions?.code;
        if (code === 'QUERY_REJECTED' || code === 'FORBIDDEN') continue;
        expect(answer.errors, document).toBeUndefined();
        const operation = getOperationAST(parse(document));
        if (!operation) throw new Error('no operation');
        const cost = operationCost(
          schema,
          operation,
          parse(document),
          {},
          {
            listSizes: { 'Query.mySessions': 12 },
          },
        );
        expect(cost, document).toBeLessThanOrEqual(MAX_COST);
        expect(objectsIn(answer.data), document).toBeLessThanOrEqual(cost / 2);
        served += 1;
      }
    }
    // The test is about served documents: make sure it saw many, with full session lists among them.
    expect(served).toBeGreaterThan(20);
    const full = ok(
      await server.gql(
        '{ me { sessions(first: 50) { id } } mySessions { id } }',
        {},
        {
          token: crowded.token,
        },
      ),
    );
    expect(full.me.sessions).toHaveLength(12);
    expect(full.mySessions).toHaveLength(12);
  });

  it('counts every list of the schema at a bound', () => {
    const unbounded: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        if (!isListType(getNullableType(field.type)) || !isObjectType(getNamedType(field.type))) continue;
        const paged = field.args.some((arg) => arg.name === 'first');
        const connection = type.name.endsWith('Connection') && ['edges', 'nodes'].includes(field.name);
        if (!paged && !connection && LIST_SIZES[`${type.name}.${field.name}`] === undefined) {
          unbounded.push(`${type.name}.${field.name}`);
        }
      }
    }
    expect(unbounded).toEqual([]);
  });

  it('answers a page size out of range with BAD_USER_INPUT naming the argument, not QUERY_REJECTED', async () => {
    for (const [query, variables] of [
      ['{ users(first: 101) { nodes { id } } }', {}],
      ['query ($n: Int) { users(first: $n) { nodes { id email } } }', { n: 101 }],
      ['{ users(first: 1000000) { nodes { id sessions { id } } } }', {}],
      ['{ me { sessions(first: 101) { id } } }', {}],
    ] as const) {
      const response = await server.gql(query, variables, { token: system.token });
      expect(response.errors?.[0]?.extensions?.code, query).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields, query).toEqual([
        { field: 'first', message: expect.any(String) },
      ]);
    }
  });
});

describe('security: a user holds at most MAX_SESSIONS_PER_USER sessions', () => {
  const server = useTestServer({ MAX_SESSIONS_PER_USER: '3' });

  it('ends the oldest sessions when a sign-in passes the limit', async () => {
    const system = await signInSystemAdmin(server);
    const tenant = await makeTenant(server, system);
    const first = await makeActor(server, tenant, 'USER');
    const later: Actor[] = [];
    for (let i = 0; i < 4; i++) {
      server.clock.advance(1_000);
      later.push(await signIn(server, tenant.slug, first.email));
    }
    const [second, third, fourth, fifth] = later as [Actor, Actor, Actor, Actor];

    expect(await tokenWorks(server, first.token)).toBe(false);
    expect(await tokenWorks(server, second.token)).toBe(false);
    for (const kept of [third, fourth, fifth]) expect(await tokenWorks(server, kept.token)).toBe(true);
    const sessions = ok(
      await server.gql(
        '{ mySessions { id } me { sessions(first: 100) { id } } }',
        {},
        {
          token: fifth.token,
        },
      ),
    );
    const kept = [third, fourth, fifth].map((actor) => ({ id: actor.sessionId }));
    expect(sessions.mySessions).toEqual(kept);
    expect(sessions.me.sessions).toEqual(kept);
    const revoked = await auditTrail(server, tenant.id, 'session.revoked');
    const ended = revoked.flatMap((event) => (event.metadata as { sessions: string[] }).sessions);
    expect(ended.sort()).toEqual([first.sessionId, second.sessionId].sort());
  });
});
