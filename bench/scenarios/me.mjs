// Authenticated reads: `me`, the token check alone, and memory under steady `me` load.
import { activeUsers } from '../lib/data.mjs';
import { fetchMetrics, ME, signIn } from '../lib/gql.mjs';
import {
  alternate,
  ceilingKey,
  ceilingRows,
  ceilingVariants,
  row,
  serviceRun,
  summarize,
  target,
  versusCeilings,
} from '../lib/harness.mjs';
import { gqlRequest } from '../lib/load.mjs';
import { verifyRequests } from './common.mjs';

async function tokenRequests(ctx, service, count, query) {
  const users = await activeUsers(ctx.sql, ctx.data.small.id, count);
  const sessions = await signIn(service.graphql, ctx.data.small.slug, users, ctx.data.password);
  const requests = sessions.map((s) => gqlRequest(query, undefined, { authorization: `Bearer ${s.token}` }));
  await verifyRequests(service.graphql, requests, (data) =>
    query === ME ? data.me?.tenant?.slug === ctx.data.small.slug : true,
  );
  return requests;
}

/** Throughput vs the ceiling at several connection counts; one target ratio for all of them. */
async function versusCeiling(ctx, service, requests, label, connectionCounts, goal) {
  const rows = [];
  const targets = [];
  for (const connections of connectionCounts) {
    const runs = await alternate(ctx, [
      ...ceilingVariants(ctx, connections),
      {
        key: `${label} c${connections}`,
        run: (durationSec) => serviceRun(service, { connections, durationSec, requests }),
      },
    ]);
    const measured = summarize(runs[`${label} c${connections}`]);
    const versus = versusCeilings(runs[`${label} c${connections}`], runs, connections);
    const { ratio } = versus;
    rows.push(...ceilingRows(runs, connections));
    rows.push(row(label, connections, measured, versus));
    targets.push(
      target(
        `${label} req/s at ${connections} connections`,
        `≥ ${goal} × standalone ceiling`,
        `${ratio.toFixed(2)} ×`,
        ratio >= goal,
      ),
    );
  }
  return { rows, targets };
}

export const me = {
  name: 'me',
  title: '`{ me { id email role tenant { slug } } }` with a valid Bearer token',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('me');
    const requests = await tokenRequests(ctx, service, ctx.smoke ? 20 : 100, ME);
    const { rows, targets } = await versusCeiling(ctx, service, requests, '`me`', [10, 50], 0.6);
    return { rows, targets, notes: [`${requests.length} signed-in users, their tokens used in turn.`] };
  },
};

export const token = {
  name: 'token',
  title: 'the token check alone: an authenticated `{ __typename }`',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('token');
    const requests = await tokenRequests(ctx, service, ctx.smoke ? 20 : 100, '{ __typename }');
    const { rows, targets } = await versusCeiling(
      ctx,
      service,
      requests,
      'authenticated `{ __typename }`',
      [10],
      0.8,
    );
    return { rows, targets, notes: [`${requests.length} signed-in users, their tokens used in turn.`] };
  },
};

export const rss = {
  name: 'rss',
  title: 'server memory under steady `me` load at 50 connections',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('rss');
    const requests = await tokenRequests(ctx, service, ctx.smoke ? 100 : 1000, ME);
    const signedInRss = service.proc.rss();
    const durationSec = ctx.smoke ? 2 : 30;
    const runs = await alternate(
      ctx,
      [
        ...ceilingVariants(ctx, 50),
        { key: 'me c50', run: (d) => serviceRun(service, { connections: 50, durationSec: d, requests }) },
      ],
      { rounds: 1, durationSec },
    );
    const ceiling = summarize(runs[ceilingKey(50)]);
    const measured = summarize(runs['me c50']);
    const mb = measured.rssPeak / 2 ** 20;
    const memory = await heapMetrics(service.url);
    return {
      rows: [...ceilingRows(runs, 50), row('`me`', 50, measured, versusCeilings(runs['me c50'], runs, 50))],
      targets: [target('peak server RSS', '≤ 200 MB', `${mb.toFixed(0)} MB`, mb <= 200)],
      notes: [
        `${durationSec} s of load after a warm-up; ${requests.length} signed-in users' tokens in turn. RSS when ready: ${(service.idleRss / 2 ** 20).toFixed(0)} MB, after signing in: ${(signedInRss / 2 ** 20).toFixed(0)} MB → peak ${mb.toFixed(0)} MB, at the end ${(service.proc.rss() / 2 ** 20).toFixed(0)} MB; the ceiling peaked at ${(ceiling.rssPeak / 2 ** 20).toFixed(0)} MB.`,
        ...(memory ? [`At the end, from the service's /metrics: ${memory}.`] : []),
      ],
    };
  },
};

/** V8 heap and external memory from the service's Prometheus metrics (prom-client's defaults). */
async function heapMetrics(baseUrl) {
  try {
    const text = (await fetchMetrics(baseUrl)) ?? '';
    const value = (name) => {
      const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
      return match
        ? `${name.replace(/^nodejs_|_bytes$/g, '')} ${(Number(match[1]) / 2 ** 20).toFixed(0)} MB`
        : undefined;
    };
    const parts = [
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_external_memory_bytes',
      'process_resident_memory_bytes',
    ]
      .map(value)
      .filter(Boolean);
    return parts.length ? parts.join(', ') : undefined;
  } catch {
    return undefined;
  }
}
