import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
} from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBaseSchema } from '../src/app/schema.js';
import { overWebSocket } from './support/abuse-ws.js';
import { type Actor, signInSystemAdmin } from './support/fixtures.js';
import { type GraphQLResponse, useTestServer } from './support/server.js';

/**
 * Text PostgreSQL cannot store (NUL) or that it would silently change (a lone UTF-16 surrogate,
 * stored as U+FFFD), and dates it cannot hold (year 0, past 9999), are refused at the boundary
 * as BAD_USER_INPUT naming the field: never an INTERNAL_SERVER_ERROR from the database.
 * Generic: every String, ID and DateTimeISO reachable from an argument of every query and
 * mutation of the schema, inside inputs and lists too, is sent each bad value by an anonymous
 * caller over HTTP; and the findings of the review are replayed over HTTP and WebSocket.
 */

const BAD_TEXT = { NUL: 'a\u0000b', 'lone high surrogate': 'a\ud800b', 'lone low surrogate': '\udc00z' };
const BAD_DATES = { 'year 0': '0000-01-01T00:00:00Z', 'year 10000': '+010000-01-01T00:00:00Z' };

const server = useTestServer();
let admin: Actor;

beforeAll(async () => {
  admin = await signInSystemAdmin(server);
});

/** A valid value of `type`, filling only what is required. */
function sample(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return sample(type.ofType);
  if (isListType(type)) return [sample(type.ofType)];
  if (isEnumType(type)) return type.getValues()[0]?.value;
  if (isScalarType(type)) {
    switch (type.name) {
      case 'Int':
      case 'Float':
        return 1;
      case 'Boolean':
        return false;
      case 'ID':
        return '00000000-0000-4000-8000-000000000000';
      case 'DateTimeISO':
        return new Date().toISOString();
      default:
        return 'x';
    }
  }
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      if (isNonNullType(field.type) && field.defaultValue === undefined)
        value[field.name] = sample(field.type);
    }
    return value;
  }
  throw new Error(`no sample for ${String(type)}`);
}

/** `type`'s sample with `bad` at `path` (names of input fields). */
function withBad(type: GraphQLInputType, path: string[], bad: string): unknown {
  if (isNonNullType(type)) return withBad(type.ofType, path, bad);
  if (isListType(type)) return [withBad(type.ofType, path, bad)];
  if (path.length === 0) return bad;
  if (!isInputObjectType(type)) throw new Error(`${String(type)} has no field ${path[0]}`);
  const field = type.getFields()[path[0] as string];
  if (!field) throw new Error(`${type.name}.${path[0]} does not exist`);
  return { ...(sample(type) as object), [field.name]: withBad(field.type, path.slice(1), bad) };
}

interface Leaf {
  field: GraphQLField<unknown, unknown>;
  operation: 'query' | 'mutation';
  arg: GraphQLArgument;
  path: string[];
  scalar: string;
}

function leavesOf(
  type: GraphQLInputType,
  path: string[],
  seen: Set<string>,
): { path: string[]; scalar: string }[] {
  const named = getNamedType(type);
  if (isScalarType(named)) {
    return ['String', 'ID', 'DateTimeISO'].includes(named.name) ? [{ path, scalar: named.name }] : [];
  }
  if (!isInputObjectType(named) || seen.has(named.name)) return [];
  const inner = new Set(seen).add(named.name);
  return Object.values(named.getFields()).flatMap((field) =>
    leavesOf(field.type, [...path, field.name], inner),
  );
}

async function allLeaves(): Promise<Leaf[]> {
  const schema = await buildBaseSchema();
  const leaves: Leaf[] = [];
  for (const operation of ['query', 'mutation'] as const) {
    const root = operation === 'query' ? schema.getQueryType() : schema.getMutationType();
    for (const field of Object.values(root?.getFields() ?? {})) {
      for (const arg of field.args) {
        for (const leaf of leavesOf(arg.type, [], new Set())) leaves.push({ field, operation, arg, ...leaf });
      }
    }
  }
  return leaves;
}

/** One operation calling `leaf.field` with `bad` at the leaf and valid values elsewhere. */
function request(leaf: Leaf, bad: string) {
  const args = leaf.field.args.filter(
    (arg) => arg === leaf.arg || (isNonNullType(arg.type) && arg.defaultValue === undefined),
  );
  const variables: Record<string, unknown> = {};
  for (const arg of args) {
    variables[arg.name] = arg === leaf.arg ? withBad(arg.type, leaf.path, bad) : sample(arg.type);
  }
  const declared = args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const passed = args.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  const selection = isLeafType(getNamedType(leaf.field.type)) ? '' : ' { __typename }';
  const query = `${leaf.operation} (${declared}) { ${leaf.field.name}(${passed})${selection} }`;
  const expectedField =
    leaf.arg.name === 'input' ? leaf.path.join('.') : [leaf.arg.name, ...leaf.path].join('.');
  return { query, variables, expectedField };
}

function describeAnswer(answer: { errors?: readonly { message: string; extensions?: unknown }[] }) {
  return JSON.stringify(answer.errors?.[0] ?? null);
}

describe('security: the input boundary refuses text and dates the database cannot hold', () => {
  it('every String, ID and DateTimeISO of every argument, anywhere in an input (HTTP)', async () => {
    const leaves = await allLeaves();
    // The schema has plenty of each: the walk is not vacuous.
    expect(leaves.filter((leaf) => leaf.scalar === 'String').length).toBeGreaterThan(40);
    expect(leaves.filter((leaf) => leaf.scalar === 'DateTimeISO').length).toBeGreaterThanOrEqual(2);
    const wrong: string[] = [];
    for (const leaf of leaves) {
      const bads = leaf.scalar === 'DateTimeISO' ? BAD_DATES : BAD_TEXT;
      for (const [kind, bad] of Object.entries(bads)) {
        const { query, variables, expectedField } = request(leaf, bad);
        const answer: GraphQLResponse = await server.gql(query, variables);
        const name = `${leaf.field.name}(${[leaf.arg.name, ...leaf.path].join('.')}) with ${kind}`;
        const error = answer.errors?.[0];
        if (kind === 'NUL' && /password$/i.test(leaf.path.at(-1) ?? leaf.arg.name)) {
          // Passwords reach only the hasher; the password policy names a NUL in a new one
          // with the other rules it breaks, and a sign-in with one simply fails.
          if (error?.extensions?.code === 'INTERNAL_SERVER_ERROR' || !error) {
            wrong.push(`${name}: ${describeAnswer(answer)}`);
          }
          continue;
        }
        if (error?.extensions?.code !== 'BAD_USER_INPUT') {
          wrong.push(`${name}: ${describeAnswer(answer)}`);
          continue;
        }
        // Refused by variable coercion (e.g. a date that does not parse) or at the boundary,
        // which names the field as the services do.
        const fields = (error.extensions.fields ?? []) as { field: string }[];
        const named = fields[0]?.field.replace(/\[\d+\]/g, '');
        if (!/^Variable "\$/.test(error.message) && named !== expectedField) {
          wrong.push(`${name}: expected field ${expectedField}, got ${describeAnswer(answer)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("replays the review's findings over HTTP and WebSocket", async () => {
    const findings: [string, Record<string, unknown> | undefined, string][] = [
      ['{ tenantInfo(slug: "a\\u0000b") { name } }', undefined, 'slug'],
      [
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
        { input: { tenant: 'system', email: 'root\u0000@system.test', password: 'x' } },
        'email',
      ],
      [
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
        { input: { tenant: 'sys\u0000tem', email: 'root@system.test', password: 'x' } },
        'tenant',
      ],
      [
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
        { input: { tenant: 'system', email: 'root\ud800@system.test', password: 'x' } },
        'email',
      ],
      [
        '{ auditEvents(filter: { since: "0000-01-01T00:00:00Z" }) { totalCount } }',
        undefined,
        'filter.since',
      ],
      [
        'query ($s: String) { users(filter: { search: $s }) { totalCount } }',
        { s: '\ud83d' },
        'filter.search',
      ],
    ];
    for (const [query, variables, field] of findings) {
      const http = await server.gql(query, variables, { token: admin.token });
      expect(http.errors?.[0]?.extensions?.code, `${query} over HTTP: ${describeAnswer(http)}`).toBe(
        'BAD_USER_INPUT',
      );
      expect(http.errors?.[0]?.extensions?.fields).toEqual([{ field, message: expect.any(String) }]);
      if (variables) continue; // overWebSocket sends documents only
      const ws = await overWebSocket(server, admin.token, query);
      expect(ws.errors?.[0]?.extensions?.code, `${query} over WebSocket: ${describeAnswer(ws)}`).toBe(
        'BAD_USER_INPUT',
      );
    }
  });

  it('a lone surrogate escaped in the document itself is a syntax error (BAD_USER_INPUT)', async () => {
    const query = '{ users(filter: { search: "\\ud83d" }) { totalCount } }';
    const http = await server.gql(query, {}, { token: admin.token });
    expect(http.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const ws = await overWebSocket(server, admin.token, query);
    expect(ws.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('well-formed text is untouched: a surrogate pair, accents and the year 1 pass', async () => {
    const search = await server.gql(
      'query ($s: String) { users(filter: { search: $s }) { totalCount } }',
      { s: 'é😀' },
      { token: admin.token },
    );
    expect(search.errors).toBeUndefined();
    const since = await server.gql(
      '{ auditEvents(filter: { since: "0001-01-01T00:00:00Z" }) { totalCount } }',
      {},
      { token: admin.token },
    );
    expect(since.errors).toBeUndefined();
  });
});
