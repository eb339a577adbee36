// User administration reads: a nested page, search and lookup at two tenant sizes, a deep page.
import { sampleUserIds } from '../lib/data.mjs';
import { gqlOk, signIn } from '../lib/gql.mjs';
import {
  alternate,
  ceilingRows,
  ceilingVariants,
  pairedRatio,
  row,
  serviceRun,
  summarize,
  target,
  versusCeilings,
} from '../lib/harness.mjs';
import { gqlRequest } from '../lib/load.mjs';
import { verifyRequests } from './common.mjs';

const PAGE = `{ users(first: 50) { edges { node { id email displayName role tenant { slug } sessions(first: 2) { id createdAt } } }
  pageInfo { hasNextPage endCursor } } }`;
const SEARCH = `query Search($search: String!) { users(first: 20, filter: { search: $search }) {
  edges { node { id email displayName role } } pageInfo { hasNextPage endCursor } } }`;
const USER = 'query User($id: ID!) { user(id: $id) { id email displayName role status lastLoginAt } }';
const PAGE_AFTER = `query Page($after: String) { users(first: 50, after: $after) {
  edges { node { id email displayName } } pageInfo { hasNextPage endCursor } } }`;

/**
 * Search terms by class, three each (share of the seeded users they match in brackets): rare
 * (< 0.05 %), medium (0.1–0.4 %), common (≥ 3 %, up to every user), and 1, 2 and 3 characters
 * (from every user down to 0.2 %: the trigram index cannot serve terms under 3 characters).
 */
export const SEARCH_CLASSES = {
  rare: ['olivia.k', 'nils_k', 'zhao.yuki'],
  medium: ['kowalski', 'katz', 'schmidt'],
  common: ['garcia', 'smith', 'example'],
  '1 char': ['a', 'j', 'q'],
  '2 chars': ['li', 'ki', 'wu'],
  '3 chars': ['mar', 'lee', 'kim'],
};
export const SEARCH_TERMS = Object.values(SEARCH_CLASSES).flat();
const LATENCY_CONNECTIONS = 4;

async function moderatorToken(ctx, service, tenant) {
  const [session] = await signIn(
    service.graphql,
    tenant.slug,
    [{ email: tenant.moderator }],
    ctx.data.password,
  );
  return { authorization: `Bearer ${session.token}` };
}

const fmtSize = (n) => n.toLocaleString('en-US');

/** p50 at two tenant sizes, side by side with the ceiling at the same connections. */
async function bySize(ctx, service, label, build) {
  const small = ctx.data.small;
  const large = ctx.data.large;
  const requests = { small: await build(small), large: await build(large) };
  await verifyRequests(service.graphql, requests.small);
  await verifyRequests(service.graphql, requests.large);
  const c = LATENCY_CONNECTIONS;
  const runs = await alternate(ctx, [
    ...ceilingVariants(ctx, c),
    {
      key: `${label} small`,
      run: (durationSec) => serviceRun(service, { connections: c, durationSec, requests: requests.small }),
    },
    {
      key: `${label} large`,
      run: (durationSec) => serviceRun(service, { connections: c, durationSec, requests: requests.large }),
    },
  ]);
  const s = summarize(runs[`${label} small`]);
  const l = summarize(runs[`${label} large`]);
  const ratio = pairedRatio(runs[`${label} large`], runs[`${label} small`], (r) => r.p50);
  return {
    rows: [
      ...ceilingRows(runs, c),
      row(`${label}, ${fmtSize(small.users)} users`, c, s, versusCeilings(runs[`${label} small`], runs, c)),
      row(`${label}, ${fmtSize(large.users)} users`, c, l, versusCeilings(runs[`${label} large`], runs, c)),
    ],
    targets: [
      target(
        `${label} p50 at ${fmtSize(large.users)} vs ${fmtSize(small.users)} users`,
        '≤ 2 ×',
        `${ratio.toFixed(2)} ×`,
        ratio <= 2,
      ),
    ],
  };
}

export const usersPage = {
  name: 'users-page',
  title: '`users(first: 50)` with `tenant` and `sessions` nested (a MODERATOR)',
  needs: ['small'],
  async run(ctx) {
    const service = await ctx.startService('users-page');
    const headers = await moderatorToken(ctx, service, ctx.data.small);
    const requests = [gqlRequest(PAGE, undefined, headers)];
    await verifyRequests(service.graphql, requests, (data) => data.users.edges.length === 50);
    const runs = await alternate(ctx, [
      ...ceilingVariants(ctx, 10),
      {
        key: 'users page c10',
        run: (durationSec) => serviceRun(service, { connections: 10, durationSec, requests }),
      },
    ]);
    const measured = summarize(runs['users page c10']);
    const versus = versusCeilings(runs['users page c10'], runs, 10);
    const { ratio } = versus;
    // Exact statements per request, one request at a time.
    const before = await ctx.statements(service);
    for (let i = 0; i < 10; i++) await gqlOk(service.graphql, PAGE, undefined, { headers });
    const serial = ((await ctx.statements(service)) - before) / 10;
    return {
      rows: [...ceilingRows(runs, 10), row('`users(first: 50)` nested', 10, measured, versus)],
      targets: [
        target('SQL statements per request', '≤ 4', `${serial}`, serial <= 4),
        target('req/s', '≥ 0.2 × standalone ceiling', `${ratio.toFixed(2)} ×`, ratio >= 0.2),
      ],
      notes: [
        `Tenant of ${fmtSize(ctx.data.small.users)} users; statements counted over 10 sequential requests (and under load: ${measured.sqlPerOp?.toFixed(2)} per request).`,
      ],
    };
  },
};

export const search = {
  name: 'search',
  title: `\`users(first: 20, filter: { search })\` at two tenant sizes, all terms in turn and per class (${Object.entries(
    SEARCH_CLASSES,
  )
    .map(([name, terms]) => `${name}: ${terms.map((t) => `"${t}"`).join(', ')}`)
    .join('; ')})`,
  needs: ['small', 'large'],
  async run(ctx) {
    const service = await ctx.startService('search');
    const sizes = { small: ctx.data.small, large: ctx.data.large };
    const headers = {};
    for (const [size, tenant] of Object.entries(sizes))
      headers[size] = await moderatorToken(ctx, service, tenant);
    const build = (size, terms) => terms.map((term) => gqlRequest(SEARCH, { search: term }, headers[size]));
    const groups = [['all terms', SEARCH_TERMS], ...Object.entries(SEARCH_CLASSES)];
    const requests = {};
    for (const [name, terms] of groups) {
      for (const size of Object.keys(sizes)) requests[`${name} ${size}`] = build(size, terms);
    }
    for (const size of Object.keys(sizes))
      await verifyRequests(service.graphql, requests[`all terms ${size}`]);
    const c = LATENCY_CONNECTIONS;
    const runs = await alternate(ctx, [
      ...ceilingVariants(ctx, c),
      ...Object.keys(requests).map((key) => ({
        key,
        run: (durationSec) => serviceRun(service, { connections: c, durationSec, requests: requests[key] }),
      })),
    ]);
    const rows = [...ceilingRows(runs, c)];
    const ratios = [];
    for (const [name] of groups) {
      for (const [size, tenant] of Object.entries(sizes)) {
        const key = `${name} ${size}`;
        rows.push(
          row(
            `search ${name}, ${fmtSize(tenant.users)} users`,
            c,
            summarize(runs[key]),
            versusCeilings(runs[key], runs, c),
          ),
        );
      }
      ratios.push([name, pairedRatio(runs[`${name} large`], runs[`${name} small`], (r) => r.p50)]);
    }
    const [, ratio] = ratios[0];
    const counts = [];
    const patterns = SEARCH_TERMS.map((term) => `%${term.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`);
    for (const tenant of Object.values(sizes)) {
      // One pass over the tenant for every term; the same text and escaping as the service's search.
      const found = await ctx.sql`select p.i, count(u.id)::int as n
        from unnest(${patterns}::text[]) with ordinality as p(pattern, i)
        left join users u on u.tenant_id = ${tenant.id}
          and lower(u.email) || E'\n' || coalesce(lower(u.display_name), '') like p.pattern
        group by p.i order by p.i`;
      const parts = SEARCH_TERMS.map((term, i) => `"${term}" ${fmtSize(found[i].n)}`);
      counts.push(`${fmtSize(tenant.users)} users: ${parts.join(', ')}`);
    }
    return {
      rows,
      targets: [
        target(
          `search p50 at ${fmtSize(sizes.large.users)} vs ${fmtSize(sizes.small.users)} users (all terms in turn)`,
          '≤ 2 ×',
          `${ratio.toFixed(2)} ×`,
          ratio <= 2,
        ),
      ],
      notes: [
        `p50 at ${fmtSize(sizes.large.users)} vs ${fmtSize(sizes.small.users)} users per class — ${ratios
          .slice(1)
          .map(([name, r]) => `${name} ${r.toFixed(2)} ×`)
          .join(', ')}.`,
        `Matches per term — ${counts.join('; ')}. Each run uses its terms in turn.`,
      ],
    };
  },
};

export const userById = {
  name: 'user-by-id',
  title: '`user(id)` at two tenant sizes (random ids of the tenant)',
  needs: ['small', 'large'],
  async run(ctx) {
    const service = await ctx.startService('user-by-id');
    const build = async (tenant) => {
      const headers = await moderatorToken(ctx, service, tenant);
      const ids = await sampleUserIds(ctx.sql, tenant.id, 500);
      return ids.map((id) => gqlRequest(USER, { id }, headers));
    };
    return {
      ...(await bySize(ctx, service, '`user(id)`', build)),
      notes: ['500 random ids per tenant, used in turn.'],
    };
  },
};

export const deepPage = {
  name: 'deep-page',
  title: 'the 200th page of 50 users vs the first page (default order, keyset cursor)',
  needs: ['large'],
  async run(ctx) {
    const service = await ctx.startService('deep-page');
    const tenant = ctx.data.large;
    const headers = await moderatorToken(ctx, service, tenant);
    let after = null;
    for (let page = 1; page < 200; page++) {
      const data = await gqlOk(service.graphql, PAGE_AFTER, { after }, { headers });
      if (!data.users.pageInfo.hasNextPage)
        throw new Error(`tenant ${tenant.slug} has fewer than 200 pages of 50 users`);
      after = data.users.pageInfo.endCursor;
    }
    const first = [gqlRequest(PAGE_AFTER, { after: null }, headers)];
    const deep = [gqlRequest(PAGE_AFTER, { after }, headers)];
    await verifyRequests(service.graphql, [...first, ...deep], (data) => data.users.edges.length === 50);
    const c = LATENCY_CONNECTIONS;
    const runs = await alternate(ctx, [
      ...ceilingVariants(ctx, c),
      {
        key: 'page 1',
        run: (durationSec) => serviceRun(service, { connections: c, durationSec, requests: first }),
      },
      {
        key: 'page 200',
        run: (durationSec) => serviceRun(service, { connections: c, durationSec, requests: deep }),
      },
    ]);
    const ratio = pairedRatio(runs['page 200'], runs['page 1'], (r) => r.p50);
    return {
      rows: [
        ...ceilingRows(runs, c),
        row('first page', c, summarize(runs['page 1']), versusCeilings(runs['page 1'], runs, c)),
        row('200th page', c, summarize(runs['page 200']), versusCeilings(runs['page 200'], runs, c)),
      ],
      targets: [
        target('p50 of the 200th page vs the first', '≤ 1.5 ×', `${ratio.toFixed(2)} ×`, ratio <= 1.5),
      ],
      notes: [
        `Tenant of ${fmtSize(tenant.users)} users; the cursor of page 199 was reached by paging through the API.`,
      ],
    };
  },
};
