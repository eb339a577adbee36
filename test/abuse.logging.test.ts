import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/kernel/logger.js';
import { createTenant, LOGIN, registerUser, type SignedIn } from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/**
 * Structured JSON logs: one line per GraphQL request (request id, operation, tenant, user,
 * duration, error codes), whatever refused it; no password, token or Authorization header ever;
 * no way to forge a line.
 */

let user: SignedIn;
let tenantId: string;
/** Every write the logger made, exactly as written. */
const writes: string[] = [];

const server = useTestServer(
  { LOG_LEVEL: 'info' },
  { logStream: { write: (chunk) => void writes.push(chunk) } },
);
beforeAll(async () => {
  const tenant = await createTenant(server);
  tenantId = tenant.id;
  user = await registerUser(server, tenant.slug);
});

type Line = Record<string, unknown>;
const lines = (): Line[] => writes.map((chunk) => JSON.parse(chunk) as Line);

/** The request lines written for the request that got `response`, by its X-Request-Id. */
function requestLines(response: { headers: Headers }): Line[] {
  const id = response.headers.get('x-request-id');
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return lines().filter((line) => line.msg === 'graphql request' && line.requestId === id);
}

async function post(body: string, headers: Record<string, string>) {
  return fetch(`${server.url}/graphql`, { method: 'POST', headers, body });
}

describe('request log', () => {
  it('writes one line per request with operation, tenant, user, duration and error codes', async () => {
    const signIn = await server.gql(LOGIN, {
      input: { tenant: user.tenant, email: user.email, password: user.password },
    });
    expect(signIn.errors).toBeUndefined();
    const me = await server.gql('query Me { me { id } }', {}, { token: user.accessToken });
    const failed = await server.gql(LOGIN, {
      input: { tenant: user.tenant, email: user.email, password: 'wrong one 12345' },
    });

    const [signInLine] = requestLines(signIn);
    expect(requestLines(signIn)).toHaveLength(1);
    expect(signInLine).toMatchObject({
      level: 'info',
      operationName: 'Login',
      // Signed in by this very request.
      tenantId,
      userId: user.userId,
      status: 200,
    });
    expect(signInLine?.errorCodes).toBeUndefined();
    expect(typeof signInLine?.durationMs).toBe('number');
    expect(typeof signInLine?.time).toBe('string');

    expect(requestLines(me)).toEqual([
      expect.objectContaining({ operationName: 'Me', tenantId, userId: user.userId, status: 200 }),
    ]);
    expect(requestLines(failed)).toEqual([
      expect.objectContaining({
        operationName: 'Login',
        userId: null,
        status: 200,
        errorCodes: ['UNAUTHENTICATED'],
      }),
    ]);
  });

  it('logs requests refused before GraphQL runs: bad token, CSRF, batch, oversized body', async () => {
    const json = { 'content-type': 'application/json' };
    const cases: [Response, number, string][] = [
      [
        await post('{"query":"{ me { id } }"}', { ...json, authorization: 'Bearer forged.token.value' }),
        401,
        'UNAUTHENTICATED',
      ],
      [
        await post('{"query":"mutation { logout }"}', { 'content-type': 'text/plain' }),
        400,
        'BAD_USER_INPUT',
      ],
      [await post('[{"query":"{ __typename }"}]', json), 400, 'BAD_USER_INPUT'],
      [
        await post(JSON.stringify({ query: '{ __typename }', pad: 'x'.repeat(120_000) }), json),
        413,
        'QUERY_REJECTED',
      ],
    ];
    for (const [response, status, code] of cases) {
      expect(response.status).toBe(status);
      expect(requestLines(response)).toEqual([
        expect.objectContaining({ status, errorCodes: [code], userId: null }),
      ]);
    }
  });

  it('never contains a password, a token or an Authorization header', async () => {
    const refreshed = await server.gql(
      'mutation ($input: RefreshInput!) { refresh(input: $input) { accessToken refreshToken } }',
      { input: { refreshToken: user.refreshToken } },
      { headers: { authorization: `Bearer ${user.accessToken}` } },
    );
    const secrets = [
      user.password,
      user.accessToken,
      user.refreshToken,
      refreshed.data?.refresh.accessToken,
      refreshed.data?.refresh.refreshToken,
      'wrong one 12345',
    ];
    const everything = writes.join('');
    for (const secret of secrets) {
      expect(secret).toBeTruthy();
      expect(everything).not.toContain(secret);
    }
    expect(everything.toLowerCase()).not.toContain('bearer');
  });

  it('cannot be forged with control characters in what a client sends', async () => {
    const forged = '\n{"level":"fatal","msg":"forged"}\r\n';
    const unknownOperation = await post(
      JSON.stringify({ query: 'query Real { __typename }', operationName: `Other${forged}` }),
      { 'content-type': 'application/json' },
    );
    expect(requestLines(unknownOperation)).toEqual([
      expect.objectContaining({ operationName: `Other${forged}` }),
    ]);
    await server.gql(LOGIN, {
      input: { tenant: user.tenant, email: `${user.email}${forged}`, password: forged },
    });
    for (const chunk of writes) {
      // Exactly one line per write, and it is JSON.
      expect(chunk.endsWith('\n')).toBe(true);
      expect(chunk.slice(0, -1)).not.toMatch(/[\r\n]/);
    }
    expect(lines().some((line) => line.level === 'fatal' || line.msg === 'forged')).toBe(false);
  });
});

describe('the logger itself', () => {
  it('redacts passwords, tokens and Authorization headers wherever they are logged', () => {
    const written: string[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _encoding, done) {
          written.push(String(chunk));
          done();
        },
      }),
    );
    logger.info({
      password: 'p1',
      input: { password: 'p2', newPassword: 'p3', refreshToken: 't1' },
      headers: { authorization: 'Bearer t2' },
      req: { headers: { authorization: 'Bearer t3', cookie: 'c1' } },
      variables: { input: { password: 'p4', currentPassword: 'p5' } },
      token: 't4',
      passwordHash: '$2b$12$hash',
    });
    const line = written.join('');
    for (const secret of ['p1', 'p2', 'p3', 'p4', 'p5', 't1', 't2', 't3', 't4', 'c1', '$2b$12$hash']) {
      expect(line).not.toContain(`"${secret}"`);
    }
    expect(line.match(/\[redacted\]/g)?.length).toBe(11);
  });
});
