import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { topics } from '../src/modules/realtime/topics.js';
import { overWebSocket, type WsResult } from './support/abuse-ws.js';
import { type Actor, signInSystemAdmin } from './support/fixtures.js';
import { type GraphQLResponse, SYSTEM_ADMIN, startTestServer, type TestServer } from './support/server.js';
import { eventually, openSocket } from './support/ws.js';

/**
 * Error answers, as an attacker reads them, over HTTP and over the WebSocket alike:
 * - an unexpected error (a statement PostgreSQL refuses) is masked — "Internal server error.",
 *   INTERNAL_SERVER_ERROR, logged once — in production and, unless GRAPHQL_DEBUG_ERRORS is on,
 *   in development too; never SQL bound values, in any mode;
 * - production suggests nothing ("Did you mean …?") for fields, arguments, types, input fields
 *   or enum values.
 */

const CHANGE_PASSWORD = `mutation { changePassword(input: {
  currentPassword: "${SYSTEM_ADMIN.password}", newPassword: "A brand new passphrase 77!" }) }`;
const BROKEN_QUERY = '{ auditEvents(first: 5) { nodes { id action } } }';
/** A bcrypt (or peppered) hash, the bound value of a password update. */
const HASH = /\$2[aby]\$\d\d\$|\$ia1\$/;

type Answer = { errors?: readonly { message: string; extensions?: Record<string, unknown> }[] };

interface Instance {
  server: TestServer;
  admin: Actor;
  log: string[];
}

async function start(env: Record<string, string | undefined>): Promise<Instance> {
  const log: string[] = [];
  const server = await startTestServer(
    { LOG_LEVEL: 'info', ...env },
    { logStream: { write: (line) => void log.push(line) } },
  );
  return { server, admin: await signInSystemAdmin(server), log };
}

const execute = (server: TestServer, statement: string) =>
  server.testDatabase.database.db.execute(sql.raw(statement));

/** Runs `work` while every change of a password hash fails inside PostgreSQL's UPDATE. */
async function withBrokenPasswordUpdate<T>(server: TestServer, work: () => Promise<T>): Promise<T> {
  await execute(
    server,
    `alter table users add constraint zz_broken check (password_hash not like '%$2%') not valid`,
  );
  try {
    return await work();
  } finally {
    await execute(server, 'alter table users drop constraint zz_broken');
  }
}

async function withBrokenAuditTable<T>(server: TestServer, work: () => Promise<T>): Promise<T> {
  await execute(server, 'alter table audit_events rename column action to action_broken');
  try {
    return await work();
  } finally {
    await execute(server, 'alter table audit_events rename column action_broken to action');
  }
}

const unexpectedLogged = (log: string[], from: number) =>
  log.slice(from).filter((line) => line.includes('unexpected error while resolving')).length;

function expectMasked(answer: Answer, path: string) {
  expect(answer.errors).toEqual([
    { message: 'Internal server error.', path: [path], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
  ]);
}

function expectNoValues(answer: Answer) {
  const text = JSON.stringify(answer);
  expect(text).not.toMatch(HASH);
  expect(text).not.toContain('params');
  expect(text).not.toContain('A brand new passphrase');
}

describe('security: unexpected errors over the WebSocket, in production', () => {
  let prod: Instance;
  beforeAll(async () => {
    prod = await start({ NODE_ENV: 'production' });
  });
  afterAll(async () => {
    await prod?.server.close();
  });

  it('a failed mutation is masked, coded and logged once', async () => {
    const before = prod.log.length;
    const answer = await withBrokenPasswordUpdate(prod.server, () =>
      overWebSocket(prod.server, prod.admin.token, CHANGE_PASSWORD),
    );
    expectMasked(answer, 'changePassword');
    expectNoValues(answer);
    expect(unexpectedLogged(prod.log, before)).toBe(1);
    expect(prod.log.slice(before).join('')).toContain('zz_broken');
  });

  it('a failed query is masked, coded and logged once: no SQL text', async () => {
    const before = prod.log.length;
    const answer = await withBrokenAuditTable(prod.server, () =>
      overWebSocket(prod.server, prod.admin.token, BROKEN_QUERY),
    );
    expectMasked(answer, 'auditEvents');
    expect(JSON.stringify(answer)).not.toMatch(/select|audit_events|action/i);
    expect(unexpectedLogged(prod.log, before)).toBe(1);
  });

  it('a failing subscription event is masked, coded and logged once', async () => {
    const { server, admin } = prod;
    // From now on the row an update of the admin's own display name writes cannot be shown:
    // its metadata is no JSON object, which the JSONObject scalar refuses while serializing.
    await execute(
      server,
      `create function zz_bad_metadata() returns trigger language plpgsql as $$
        begin new.metadata := '["not", "an", "object"]'::jsonb; return new; end $$`,
    );
    await execute(
      server,
      `create trigger zz_bad_metadata before insert on audit_events for each row
        when (new.action = 'user.updated') execute function zz_bad_metadata()`,
    );
    const socket = openSocket(server.url, admin.token);
    try {
      await socket.connected;
      const feed = socket.subscribe('subscription { auditEventAdded { action metadata } }');
      const topic = topics.auditEventAdded(admin.tenantId);
      await eventually(
        () => server.app.services.events.listening(topic) > 0 || feed.completed,
        3_000,
        'the feed',
      );
      const before = prod.log.length;
      const renamed = await server.gql(
        'mutation { updateMe(input: { displayName: "Renamed root" }) { id } }',
        {},
        { token: admin.token },
      );
      expect(renamed.errors).toBeUndefined();
      await eventually(() => feed.errors.length > 0, 3_000, 'the event');
      expect(feed.errors).toEqual([
        {
          message: 'Internal server error.',
          path: ['auditEventAdded', 'metadata'],
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        },
      ]);
      expect(JSON.stringify(feed.errors)).not.toContain('object');
      expect(unexpectedLogged(prod.log, before)).toBe(1);
    } finally {
      await socket.dispose();
      await execute(server, 'drop trigger zz_bad_metadata on audit_events');
      await execute(server, 'drop function zz_bad_metadata()');
    }
  });

  it('HTTP answers the same failure the same way (one formatter)', async () => {
    const answer = await withBrokenPasswordUpdate(prod.server, () =>
      prod.server.gql(CHANGE_PASSWORD, {}, { token: prod.admin.token }),
    );
    expectMasked(answer, 'changePassword');
  });
});

/** Misspellings of every kind graphql-js would offer a suggestion for. */
const MISSPELT: [kind: string, query: string, variables?: Record<string, unknown>][] = [
  ['field', '{ mee { id } }'],
  ['nested field', '{ me { emial } }'],
  ['argument', '{ users(frist: 5) { totalCount } }'],
  ['type', 'query ($f: UserFiltr) { users(filter: $f) { totalCount } }'],
  ['input field', '{ users(filter: { rol: ADMIN }) { totalCount } }'],
  ['enum value', '{ users(filter: { role: ADMN }) { totalCount } }'],
  [
    'enum value in a variable',
    'query ($r: Role) { users(filter: { role: $r }) { totalCount } }',
    { r: 'ADMN' },
  ],
  [
    'input field in a variable',
    'query ($f: UserFilter) { users(filter: $f) { totalCount } }',
    { f: { rol: 'ADMIN' } },
  ],
];

async function overWs(instance: Instance, query: string, variables?: Record<string, unknown>) {
  // overWebSocket sends no variables: inline them as a document of their own would be refused.
  if (!variables) return overWebSocket(instance.server, instance.admin.token, query);
  const { createClient } = await import('graphql-ws');
  const { default: WebSocket } = await import('ws');
  const client = createClient({
    url: `${instance.server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${instance.admin.token}` },
    retryAttempts: 0,
  });
  try {
    return await new Promise<WsResult>((resolve, reject) => {
      let result: WsResult = {};
      client.subscribe(
        { query, variables },
        {
          next: (value) => {
            result = value as WsResult;
          },
          error: (error) => (Array.isArray(error) ? resolve({ errors: error }) : reject(error)),
          complete: () => resolve(result),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

async function suggestionsOf(instance: Instance) {
  const found: string[] = [];
  for (const [kind, query, variables] of MISSPELT) {
    const http: GraphQLResponse = await instance.server.gql(query, variables, {
      token: instance.admin.token,
    });
    const ws = await overWs(instance, query, variables);
    for (const [transport, answer] of [
      ['HTTP', http],
      ['WebSocket', ws],
    ] as const) {
      expect(answer.errors?.length, `${kind} over ${transport}`).toBeGreaterThan(0);
      expect(answer.errors?.[0]?.extensions?.code, `${kind} over ${transport}`).toBe('BAD_USER_INPUT');
      if (/Did you mean|Suggestion/i.test(JSON.stringify(answer.errors)))
        found.push(`${kind} over ${transport}`);
    }
  }
  return found;
}

describe('security: no schema suggestions in production', () => {
  let prod: Instance;
  let dev: Instance;
  beforeAll(async () => {
    [prod, dev] = await Promise.all([start({ NODE_ENV: 'production' }), start({ NODE_ENV: undefined })]);
  });
  afterAll(async () => {
    await Promise.all([prod?.server.close(), dev?.server.close()]);
  });

  it('suggests nothing for any misspelling, over HTTP or WebSocket', async () => {
    expect(await suggestionsOf(prod)).toEqual([]);
  });

  it('(outside production the same misspellings are suggested for: the probe is sound)', async () => {
    const found = await suggestionsOf(dev);
    for (const kind of [
      'field over HTTP',
      'field over WebSocket',
      'enum value over HTTP',
      'argument over HTTP',
    ]) {
      expect(found).toContain(kind);
    }
  });
});

describe('security: development mode never answers SQL values, stacks only when asked', () => {
  let dev: Instance;
  let debug: Instance;
  beforeAll(async () => {
    // NODE_ENV unset: development, the default.
    [dev, debug] = await Promise.all([
      start({ NODE_ENV: undefined }),
      start({ NODE_ENV: undefined, GRAPHQL_DEBUG_ERRORS: 'true' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([dev?.server.close(), debug?.server.close()]);
  });

  it('masks unexpected errors by default: no SQL, no values, no stack (HTTP and WebSocket)', async () => {
    expect(dev.server.config.env).toBe('development');
    const before = dev.log.length;
    const http = await withBrokenPasswordUpdate(dev.server, () =>
      dev.server.gql(CHANGE_PASSWORD, {}, { token: dev.admin.token }),
    );
    const ws = await withBrokenPasswordUpdate(dev.server, () =>
      overWebSocket(dev.server, dev.admin.token, CHANGE_PASSWORD),
    );
    for (const answer of [http, ws]) {
      expectMasked(answer, 'changePassword');
      expectNoValues(answer);
    }
    expect(unexpectedLogged(dev.log, before)).toBe(2);
  });

  it('with GRAPHQL_DEBUG_ERRORS=true: the statement and a stack, still never the values', async () => {
    const http = await withBrokenPasswordUpdate(debug.server, () =>
      debug.server.gql(CHANGE_PASSWORD, {}, { token: debug.admin.token }),
    );
    const ws = await withBrokenPasswordUpdate(debug.server, () =>
      overWebSocket(debug.server, debug.admin.token, CHANGE_PASSWORD),
    );
    for (const answer of [http, ws]) {
      const error = answer.errors?.[0];
      expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(error?.message).toMatch(/^Failed query: [\s\S]*update "users"/);
      expect(error?.message).toContain('zz_broken');
      expect(error?.extensions?.stacktrace).toEqual(expect.arrayContaining([expect.stringMatching(/^at /)]));
      expectNoValues(answer);
    }
  });

  it('GRAPHQL_DEBUG_ERRORS=true is refused in production', async () => {
    expect(() => loadConfig({ NODE_ENV: 'production', GRAPHQL_DEBUG_ERRORS: 'true' })).toThrow(
      /GRAPHQL_DEBUG_ERRORS=true is refused in production/,
    );
    expect(loadConfig({ NODE_ENV: 'production' }).debugErrors).toBe(false);
  });
});
