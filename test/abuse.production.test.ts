import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { overWebSocket } from './support/abuse-ws.js';
import { type Actor, signInSystemAdmin } from './support/fixtures.js';
import { type GraphQLResponse, startTestServer, useTestServer } from './support/server.js';

/**
 * NODE_ENV=production: introspection off unless GRAPHQL_INTROSPECTION=true, field suggestions
 * hidden, unexpected errors masked, and every error — HTTP-level refusals included — carries one
 * of the contract's codes.
 */

const CONTRACT_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'QUERY_REJECTED',
  'INTERNAL_SERVER_ERROR',
];

let admin: Actor;
const logLines: string[] = [];

const server = useTestServer(
  { NODE_ENV: 'production', LOG_LEVEL: 'info' },
  { logStream: { write: (line) => void logLines.push(line) } },
);
beforeAll(async () => {
  admin = await signInSystemAdmin(server);
});

/** Raw SQL on the server's own test database. */
const execute = (statement: string) => server.testDatabase.database.db.execute(sql.raw(statement));

function expectContractErrors(response: { errors?: GraphQLResponse['errors'] }) {
  expect(response.errors?.length).toBeGreaterThan(0);
  for (const error of response.errors ?? []) {
    expect(CONTRACT_CODES).toContain(error.extensions?.code);
    expect(error.extensions).not.toHaveProperty('stacktrace');
    expect(error.message).not.toMatch(/node_modules|\/work\/|\.ts:\d|\n\s+at /);
  }
}

describe('introspection', () => {
  it('is refused in production, with a contract code', async () => {
    for (const query of ['{ __schema { queryType { name } } }', '{ __type(name: "User") { name } }']) {
      const answer = await server.gql(query, {}, { token: admin.token });
      expect(answer.status).toBe(400);
      expect(answer.data ?? null).toBeNull();
      expectContractErrors(answer);
    }
    expect((await server.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
    // Nor through the WebSocket.
    const overWs = await overWebSocket(server, admin.token, '{ __schema { queryType { name } } }');
    expect(overWs.data ?? null).toBeNull();
    expect(overWs.errors?.length).toBeGreaterThan(0);
    expect(new Set(overWs.errors?.map((e) => e.extensions?.code))).toEqual(new Set(['BAD_USER_INPUT']));
    expect((await overWebSocket(server, admin.token, '{ __typename }')).data).toEqual({
      __typename: 'Query',
    });
  });

  it('is served in production when GRAPHQL_INTROSPECTION=true', async () => {
    const open = await startTestServer({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' });
    try {
      const answer = await open.gql('{ __schema { queryType { name } } }');
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.__schema.queryType.name).toBe('Query');
    } finally {
      await open.close();
    }
  });
});

describe('error answers in production', () => {
  it('hides field suggestions', async () => {
    const answer = await server.gql('{ mee { id } }', {}, { token: admin.token });
    expectContractErrors(answer);
    expect(answer.errors?.[0]?.message).toBe('Cannot query field "mee" on type "Query".');
  });

  it('masks an unexpected error: no message details, SQL, stack or file path', async () => {
    await execute('alter table audit_events rename column action to action_broken');
    let answer: GraphQLResponse;
    try {
      answer = await server.gql(
        '{ auditEvents(first: 5) { nodes { id action } } }',
        {},
        { token: admin.token },
      );
    } finally {
      await execute('alter table audit_events rename column action_broken to action');
    }
    expect(answer.status).toBe(200);
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors).toEqual([
      {
        message: 'Internal server error.',
        path: ['auditEvents'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      },
    ]);
    // The operators still learn what went wrong, from the log.
    expect(logLines.some((line) => line.includes('"level":"error"') && line.includes('does not exist'))).toBe(
      true,
    );
    // And the server is fine again once the table is.
    const healed = await server.gql('{ auditEvents(first: 1) { totalCount } }', {}, { token: admin.token });
    expect(healed.errors).toBeUndefined();
  });

  it('logs a failed query without the values it was sent (no password hash)', async () => {
    const session = await signInSystemAdmin(server);
    const newPassword = 'A brand new passphrase 77!';
    // Any change of a password hash now fails inside the UPDATE.
    await execute(
      `alter table users add constraint zz_broken check (password_hash not like '%$2%') not valid`,
    );
    let answer: GraphQLResponse;
    const linesBefore = logLines.length;
    try {
      answer = await server.gql(
        'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
        { input: { currentPassword: 'correct horse battery staple 42', newPassword } },
        { token: session.token },
      );
    } finally {
      await execute('alter table users drop constraint zz_broken');
    }
    expect(answer.errors).toEqual([
      {
        message: 'Internal server error.',
        path: ['changePassword'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      },
    ]);
    const logged = logLines.slice(linesBefore).join('');
    expect(logged).toContain('zz_broken');
    // The statement that failed is named (its text, not its values): an update of users.
    expect(logged).toMatch(/Failed query: .*?update \\"users\\"/);
    expect(logged).not.toMatch(/\$2[aby]\$\d\d\$|\$ia1\$/);
    expect(logged).not.toContain('params');
    expect(logged).not.toContain(newPassword);
    expect(logged).not.toContain(session.token);
  });

  it('gives parse, validation, coercion and operation-selection errors a contract code', async () => {
    const answers = [
      await server.gql('{ me { id '),
      await server.gql('{ me { nope } }', {}, { token: admin.token }),
      await server.gql('query A { __typename } query B { __typename }'),
      await server.gql(
        'query ($n: Int!) { users(first: $n) { totalCount } }',
        { n: 'ten' },
        { token: admin.token },
      ),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expectContractErrors(answer);
    }
  });

  it('never echoes a submitted password in a variable error', async () => {
    const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }';
    const secret = 'Sup3r secret passphrase!';
    const wrongType = await server.gql(LOGIN, {
      input: { tenant: 'system', email: 'a@b.test', password: 8675309 },
    });
    const missing = await server.gql(LOGIN, { input: { email: 'a@b.test', password: secret } });
    const unknown = await server.gql(LOGIN, {
      input: { tenant: 'system', email: 'a@b.test', password: secret, otp: 1 },
    });
    for (const answer of [wrongType, missing, unknown]) {
      expect(answer.status).toBe(400);
      expectContractErrors(answer);
      const text = JSON.stringify(answer.errors);
      expect(text).not.toContain('8675309');
      expect(text).not.toContain(secret);
    }
    expect(wrongType.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'input.password', message: expect.any(String) },
    ]);
    expect(missing.errors?.[0]?.message).toContain(
      'Field "tenant" of required type "String!" was not provided.',
    );
  });

  it('gives HTTP-level refusals (405, 400, 401, 413) a contract code too', async () => {
    const raw = async (init: RequestInit, query = '') => {
      const response = await fetch(`${server.url}/graphql${query}`, init);
      const text = await response.text();
      return { status: response.status, body: JSON.parse(text) as { errors?: GraphQLResponse['errors'] } };
    };
    const json = { 'content-type': 'application/json' };
    const cases: [number, Promise<{ status: number; body: { errors?: GraphQLResponse['errors'] } }>][] = [
      [
        405,
        raw(
          { method: 'GET', headers: { 'apollo-require-preflight': '1' } },
          `?query=${encodeURIComponent('mutation { logout }')}`,
        ),
      ],
      [405, raw({ method: 'PUT', headers: json, body: '{"query":"{ __typename }"}' })],
      [400, raw({ method: 'GET' }, `?query=${encodeURIComponent('{ __typename }')}`)],
      [
        400,
        raw({
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{"query":"{ __typename }"}',
        }),
      ],
      [400, raw({ method: 'POST', headers: json, body: '[{"query":"{ __typename }"}]' })],
      [400, raw({ method: 'POST', headers: json, body: '{"query":' })],
      [400, raw({ method: 'POST', headers: json, body: '{}' })],
      [
        401,
        raw({
          method: 'POST',
          headers: { ...json, authorization: 'Bearer not.a.token' },
          body: '{"query":"{ __typename }"}',
        }),
      ],
      [
        413,
        raw({
          method: 'POST',
          headers: json,
          body: JSON.stringify({ query: `{ __typename }`, pad: 'x'.repeat(110_000) }),
        }),
      ],
    ];
    for (const [status, pending] of cases) {
      const answer = await pending;
      expect(answer.status).toBe(status);
      expectContractErrors(answer.body);
    }
  });
});
