import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientIpOf } from '../src/app/graphql-http.js';
import { useTestServer } from './support/server.js';

/**
 * The GraphQL endpoint runs on Node's own HTTP objects, not express (src/app/graphql-http.ts).
 * What express gave it must still hold: the client address under TRUST_PROXY, the body limit
 * (compressed bodies too), refusals of other methods, the request id and no-store on every answer
 * and one log line each, and /graphql's other spellings still reaching GraphQL.
 */

const writes: string[] = [];

const server = useTestServer(
  { LOG_LEVEL: 'info', GRAPHIQL: 'true', TRUST_PROXY: '1' },
  { logStream: { write: (chunk) => void writes.push(chunk) } },
);

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A raw HTTP request (fetch cannot send HEAD bodies' length checks or arbitrary targets as-is). */
function send(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };
const typename = '{"query":"{ __typename }"}';

/** The log line written for an answer, found by its request id. */
function logLineOf(answer: Answer): Record<string, unknown> | undefined {
  const id = answer.headers['x-request-id'];
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  const lines = writes
    .map((chunk) => JSON.parse(chunk) as Record<string, unknown>)
    .filter((line) => line.msg === 'graphql request' && line.requestId === id);
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('the GraphQL endpoint without express', () => {
  it('answers every method with a request id, no-store and one log line with the code it sent', async () => {
    const cases: [Answer, number, string | undefined][] = [
      [await send('POST', '/graphql', json, typename), 200, undefined],
      [await send('HEAD', '/graphql', { 'apollo-require-preflight': '1' }), 405, 'BAD_USER_INPUT'],
      [await send('PUT', '/graphql', json, typename), 405, 'BAD_USER_INPUT'],
      [await send('PATCH', '/graphql', json, typename), 405, 'BAD_USER_INPUT'],
      // Without a content type or a preflight header, CSRF prevention refuses first.
      [await send('DELETE', '/graphql'), 400, 'BAD_USER_INPUT'],
      [await send('HEAD', '/graphql'), 400, 'BAD_USER_INPUT'],
      [await send('OPTIONS', '/graphql'), 400, 'BAD_USER_INPUT'],
      [
        await send('POST', '/graphql', { ...json, 'content-type': 'application/json; charset=latin1' }, '{}'),
        415,
        'BAD_USER_INPUT',
      ],
    ];
    for (const [answer, status, code] of cases) {
      expect(answer.status, answer.body).toBe(status);
      expect(answer.headers['cache-control']).toBe('no-store');
      const line = logLineOf(answer);
      expect(line?.status).toBe(status);
      expect(line?.errorCodes).toEqual(code === undefined ? undefined : [code]);
      if (status === 405) expect(answer.headers.allow).toBe('GET, POST');
    }
    const head = cases[1]?.[0] as Answer;
    // HEAD gets the refusal's headers, its length, and no body.
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    const put = cases[2]?.[0] as Answer;
    expect(
      (JSON.parse(put.body) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code,
    ).toBe('BAD_USER_INPUT');
  });

  it('applies the 100 kB limit to the inflated body of a compressed request', async () => {
    const small = await send('POST', '/graphql', { ...json, 'content-encoding': 'gzip' }, gzipSync(typename));
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body)).toEqual({ data: { __typename: 'Query' } });
    // Some 110 kB of JSON that compresses to a few hundred bytes.
    const padded = JSON.stringify({ query: '{ __typename }', pad: 'x'.repeat(110_000) });
    const bomb = await send('POST', '/graphql', { ...json, 'content-encoding': 'gzip' }, gzipSync(padded));
    expect(bomb.status).toBe(413);
    expect(JSON.parse(bomb.body)).toEqual({
      errors: [{ message: 'The request body is too large.', extensions: { code: 'QUERY_REJECTED' } }],
    });
    expect(logLineOf(bomb)).toMatchObject({ status: 413, errorCodes: ['QUERY_REJECTED'] });
  });

  it('logs the client address X-Forwarded-For names through the trusted hops (TRUST_PROXY=1)', async () => {
    const answer = await send(
      'POST',
      '/graphql',
      { ...json, 'x-forwarded-for': '203.0.113.7, 198.51.100.2' },
      typename,
    );
    expect(answer.status).toBe(200);
    // One trusted hop (the socket's peer): the address it names, not the one the client wrote.
    expect(logLineOf(answer)).toMatchObject({ ip: '198.51.100.2' });
  });

  it("answers CORS preflights itself, whatever express's routes are", async () => {
    const preflight = await send('OPTIONS', '/graphql', {
      origin: 'https://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-max-age']).toBe('600');
    expect(logLineOf(preflight)).toMatchObject({ method: 'OPTIONS', status: 204 });
  });

  it("serves GraphQL under /graphql's other spellings too, and the console page to browsers", async () => {
    for (const path of ['/graphql?x=1', '/graphql/', '/GraphQL']) {
      const answer = await send('POST', path, json, typename);
      expect(answer.status, path).toBe(200);
      expect(JSON.parse(answer.body), path).toEqual({ data: { __typename: 'Query' } });
      logLineOf(answer);
    }
    const page = await send('GET', '/graphql', { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const query = await send('GET', `/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      'apollo-require-preflight': '1',
    });
    expect(JSON.parse(query.body)).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('the client address under TRUST_PROXY', () => {
  /** Express's own answer (req.ip under `trust proxy`) next to ours, for the same request. */
  let url: string;
  let close: () => Promise<void>;
  const settings: (boolean | number | string)[] = [
    false,
    true,
    0,
    1,
    2,
    'loopback',
    '127.0.0.1',
    '127.0.0.1, 198.51.100.2',
    '10.0.0.0/8,loopback',
    'uniquelocal',
  ];
  beforeAll(async () => {
    const apps = settings.map((setting) => {
      const app = express();
      app.set('trust proxy', setting);
      const ours = clientIpOf(setting);
      app.get('/', (req, res) => {
        const theirs = req.ip?.startsWith('::ffff:') ? req.ip.slice(7) : req.ip;
        res.json({ theirs, ours: ours(req) });
      });
      return app;
    });
    const http = createServer((req, res) => {
      const index = Number(req.headers['x-setting']);
      apps[index]?.(req, res);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    close = () => new Promise((resolve) => http.close(() => resolve()));
  });
  afterAll(async () => {
    await close?.();
  });

  it("is the address express's trust proxy setting gives, for every kind of setting", async () => {
    const forwarded = [
      undefined,
      '203.0.113.7',
      '203.0.113.7, 198.51.100.2',
      '203.0.113.7, 10.1.2.3',
      '203.0.113.7,10.1.2.3, 127.0.0.1',
      'garbage, 198.51.100.2',
    ];
    const seen = new Set<string>();
    for (const [index, setting] of settings.entries()) {
      for (const header of forwarded) {
        const answer = await fetch(url, {
          headers: { 'x-setting': String(index), ...(header ? { 'x-forwarded-for': header } : {}) },
        });
        const { theirs, ours } = (await answer.json()) as { theirs: string; ours: string };
        expect(ours, `${String(setting)} / ${header}`).toBe(theirs);
        seen.add(ours);
      }
    }
    // The cases do reach different addresses (a comparison that always saw 127.0.0.1 proves nothing).
    expect(seen).toEqual(new Set(['127.0.0.1', '203.0.113.7', '198.51.100.2', '10.1.2.3', 'garbage']));
  });
});
