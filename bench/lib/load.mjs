// Load generation with autocannon's programmatic API (in the harness process, on loopback; the
// service and the ceiling are separate processes), and the statistics the tables need.
import autocannon from 'autocannon';

/**
 * One autocannon run. `requests` are autocannon request objects (static ones are pre-built and
 * cheap; `setupRequest` ones are rebuilt per request). Returns req/s over the whole run, latency
 * percentiles in ms, and every kind of failure counted as an error (socket errors, timeouts,
 * non-2xx answers, and GraphQL errors when `countGraphqlErrors` reads the bodies).
 */
export async function runLoad({
  url,
  connections,
  durationSec,
  requests,
  headers = {},
  countGraphqlErrors = false,
  timeoutSec = 10,
}) {
  let graphqlErrors = 0;
  let firstError;
  const check = (request) =>
    countGraphqlErrors
      ? {
          ...request,
          onResponse: (status, body, context) => {
            if (status === 200 && body?.includes('"errors"')) {
              graphqlErrors++;
              firstError ??= body.slice(0, 300);
            }
            request.onResponse?.(status, body, context);
          },
        }
      : request;
  // autocannon walks a requests array per connection, all connections in step from the first
  // entry: a pool of tokens or ids would be asked for in lockstep (every connection wanting the
  // same key at the same moment) and only its first entries used in a short run. A pool of
  // static requests therefore gets one autocannon instance per connection, each starting at its
  // own place in the pool (static requests stay pre-built: rebuilding each one would make the
  // load generator the bottleneck).
  const plans =
    requests.length > 1 && !requests.some((r) => r.setupRequest)
      ? Array.from({ length: connections }, (_, k) => {
          const at = Math.floor((k * requests.length) / connections);
          return { connections: 1, requests: [...requests.slice(at), ...requests.slice(0, at)].map(check) };
        })
      : [{ connections, requests: requests.map(check) }];
  // autocannon's own histogram keeps whole milliseconds; its events carry the exact durations.
  const latencies = [];
  const results = await Promise.all(
    plans.map((plan) => {
      const instance = autocannon({
        url,
        method: 'POST',
        connections: plan.connections,
        duration: durationSec,
        timeout: timeoutSec,
        headers: { 'content-type': 'application/json', ...headers },
        requests: plan.requests,
      });
      instance.on('response', (_client, status, _bytes, ms) => {
        if (status >= 200 && status < 300) latencies.push(ms);
      });
      return instance;
    }),
  );
  latencies.sort((a, b) => a - b);
  const sum = (pick) => results.reduce((total, result) => total + pick(result), 0);
  const seconds = Math.max(...results.map((result) => result.duration || durationSec));
  const total = sum((result) => result.requests.total);
  const detail = {
    errors: sum((result) => result.errors),
    timeouts: sum((result) => result.timeouts),
    non2xx: sum((result) => result.non2xx),
    graphqlErrors,
    firstError,
  };
  return {
    connections,
    seconds,
    requests: total,
    sent: sum((result) => result.requests.sent ?? result.requests.total),
    rps: total / seconds,
    p50: sortedPercentile(latencies, 50),
    p99: sortedPercentile(latencies, 99),
    max: latencies.at(-1),
    errors: detail.errors + detail.timeouts + detail.non2xx + graphqlErrors,
    detail,
  };
}

/** A GraphQL request body for autocannon. */
export function gqlRequest(query, variables, headers) {
  return {
    method: 'POST',
    path: '/graphql',
    body: JSON.stringify(variables ? { query, variables } : { query }),
    ...(headers ? { headers: { 'content-type': 'application/json', ...headers } } : {}),
  };
}

/** Same request, a different body or header on every call (a rotating pool, e.g. refresh tokens). */
export function rotatingRequest(make) {
  let i = 0;
  return {
    method: 'POST',
    path: '/graphql',
    setupRequest: (request) => {
      const { body, headers } = make(i++);
      return {
        ...request,
        body,
        headers: { ...request.headers, 'content-type': 'application/json', ...headers },
      };
    },
  };
}

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  return sortedPercentile(
    [...values].sort((a, b) => a - b),
    p,
  );
}

function sortedPercentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
