// Markdown for the results: one table per scenario, its targets, and a summary of all targets.

const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => (n === undefined ? '—' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n));
const rate = (n) => (n === undefined ? '—' : n < 100 ? n.toFixed(1) : int(n));
const mb = (bytes) => (bytes ? (bytes / 2 ** 20).toFixed(0) : '—');

const COLUMNS = [
  { head: 'variant', get: (r) => r.label, always: true },
  { head: 'conn.', get: (r) => String(r.connections ?? '—'), always: true },
  { head: 'req/s', get: (r) => rate(r.rps), has: (r) => r.rps !== undefined },
  { head: 'p50 ms', get: (r) => ms(r.p50), has: (r) => r.p50 !== undefined },
  { head: 'p99 ms', get: (r) => ms(r.p99), has: (r) => r.p99 !== undefined },
  {
    head: 'errors',
    get: (r) => (r.errors === undefined ? '—' : `${r.errors}${r.requests ? ` / ${int(r.requests)}` : ''}`),
    has: (r) => r.errors !== undefined,
  },
  {
    head: 'SQL/op',
    get: (r) => (r.sqlPerOp === undefined ? '—' : r.sqlPerOp.toFixed(2)),
    has: (r) => r.sqlPerOp !== undefined,
  },
  {
    head: 'CPU ms/op',
    get: (r) => (r.cpuMsPerOp === undefined ? '—' : r.cpuMsPerOp.toFixed(3)),
    has: (r) => r.cpuMsPerOp !== undefined,
  },
  {
    head: 'DB CPU ms/op',
    get: (r) => (r.dbCpuMsPerOp === undefined ? '—' : r.dbCpuMsPerOp.toFixed(3)),
    has: (r) => r.dbCpuMsPerOp !== undefined,
  },
  { head: 'start ms', get: (r) => ms(r.startMs), has: (r) => r.startMs !== undefined },
  { head: 'peak RSS MB', get: (r) => mb(r.rssPeak), has: (r) => r.rssPeak !== undefined },
  {
    head: 'ratio',
    get: (r) =>
      r.ratio === undefined
        ? '—'
        : r.ceilingRps !== undefined
          ? `${r.ratio.toFixed(2)} × standalone${r.expressRatio === undefined ? '' : `, ${r.expressRatio.toFixed(2)} × express`}`
          : r.refLabel === 'raw'
            ? `${r.ratio.toFixed(2)} × raw (${rate(r.refRps)}/s)`
            : `${r.ratio.toFixed(2)} × (${r.refLabel})`,
    has: (r) => r.ratio !== undefined,
  },
];

export function scenarioMarkdown(scenario, result) {
  const lines = [`### \`${scenario.name}\` — ${scenario.title}`, ''];
  if (result.error) {
    lines.push(`**Harness error:** ${result.error}`, '');
    return lines.join('\n');
  }
  if (result.skipped) {
    lines.push(`**Skipped:** ${result.skipped}`, '');
    return lines.join('\n');
  }
  const columns = COLUMNS.filter((c) => c.always || result.rows.some((r) => c.has(r)));
  lines.push(`| ${columns.map((c) => c.head).join(' | ')} |`);
  lines.push(`|${columns.map((_c, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
  for (const r of result.rows) lines.push(`| ${columns.map((c) => c.get(r)).join(' | ')} |`);
  lines.push('');
  for (const t of result.targets ?? []) {
    lines.push(
      `- **${t.met ? 'met' : 'MISSED'}** — ${t.what}: ${t.measured} (target ${t.goal})${t.note ? `; ${t.note}` : ''}`,
    );
  }
  for (const note of result.notes ?? []) lines.push(`- ${note}`);
  lines.push('');
  return lines.join('\n');
}

export function summaryMarkdown(entries) {
  const lines = ['| scenario | measure | target | measured | |', '|---|---|---|---:|---|'];
  for (const { scenario, result } of entries) {
    if (result.error) lines.push(`| \`${scenario.name}\` | — | — | — | harness error |`);
    else if (result.skipped) lines.push(`| \`${scenario.name}\` | — | — | — | skipped |`);
    else
      for (const t of result.targets ?? [])
        lines.push(
          `| \`${scenario.name}\` | ${t.what} | ${t.goal} | ${t.measured} | ${t.met ? 'met' : '**missed**'} |`,
        );
  }
  return lines.join('\n');
}
