// Summaries of the service's V8 CPU profiles (node --cpu-prof), limited to the measured load
// windows: top functions by self time, and time by package / project file (self and inclusive).
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function place(url) {
  if (!url) return { group: '(native)', file: '(native)' };
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return { group: pkg, file: `${pkg}/${rest.slice(rest[0].startsWith('@') ? 2 : 1).join('/')}` };
  }
  if (url.startsWith('node:')) return { group: 'node (core)', file: url };
  // Project code: compiled (dist/) or, through the bundle's source map, its TypeScript (src/).
  const dist = Math.max(url.indexOf('/dist/'), url.indexOf('/src/'));
  if (dist !== -1)
    return {
      group: `app ${
        url
          .slice(dist + (url.startsWith('/src/', dist) ? 5 : 6))
          .split('/')
          .slice(0, -1)
          .join('/') || '.'
      }`,
      file: url.slice(dist + (url.startsWith('/src/', dist) ? 5 : 6)),
    };
  return { group: url.replace(/^file:\/\//, ''), file: url.replace(/^file:\/\//, '') };
}

/**
 * The service runs as one bundled file (scripts/bundle.mjs): put every frame back in the source
 * file and line it came from, through the bundle's source map, so packages and project files
 * are told apart as before.
 */
function unbundleFrames(profile) {
  const maps = new Map();
  const mapOf = (url) => {
    if (!maps.has(url)) {
      const file = `${fileURLToPath(url)}.map`;
      maps.set(url, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : null);
    }
    return maps.get(url);
  };
  for (const { callFrame: frame } of profile.nodes) {
    if (!frame.url?.startsWith('file://') || !frame.url.includes('/dist/bundle/')) continue;
    const entry = mapOf(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber);
    if (!entry?.originalSource) continue;
    frame.url = new URL(entry.originalSource, frame.url).href;
    frame.lineNumber = entry.originalLine;
    frame.columnNumber = entry.originalColumn;
  }
}

/**
 * windows: [[startUs, endUs], …] on the monotonic clock (process.hrtime / 1000), which is also
 * the clock V8 stamps profiles with on Linux. Without overlap, the whole profile is used.
 */
export function summarizeProfile(file, windows = [], top = 20) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  unbundleFrames(profile);
  const byId = new Map();
  const parent = new Map();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  let t = profile.startTime;
  const inWindow = (time) => windows.some(([a, b]) => time >= a && time <= b);
  const overlaps = windows.some(([a, b]) => a < profile.endTime && b > profile.startTime);
  const self = new Map();
  const groupSelf = new Map();
  const groupIncl = new Map();
  const fnIncl = new Map();
  const appOwner = new Map();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (overlaps && !inWindow(t)) continue;
    const node = byId.get(profile.samples[i]);
    const frame = node.callFrame;
    total += dt;
    if (frame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    if (frame.functionName === '(garbage collector)') gc += dt;
    const where = SPECIAL.has(frame.functionName)
      ? { group: frame.functionName, file: '' }
      : place(frame.url);
    const key = SPECIAL.has(frame.functionName)
      ? frame.functionName
      : `${frame.functionName || '(anonymous)'} — ${where.file}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    groupSelf.set(where.group, (groupSelf.get(where.group) ?? 0) + dt);
    // Attributed to the innermost project function on the stack (what our code causes), else to
    // the package of the outermost library frame that was running.
    let owner;
    let outerLib;
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame;
      if (SPECIAL.has(f.functionName) || !f.url) continue;
      const at = place(f.url);
      if (at.group.startsWith('app ')) {
        owner = `${f.functionName || '(anonymous)'} — ${at.file}:${f.lineNumber + 1}`;
        break;
      }
      if (!f.url.startsWith('node:')) outerLib = at.group;
    }
    owner ??= SPECIAL.has(frame.functionName)
      ? frame.functionName
      : `(no project frame) ${outerLib ?? where.group}`;
    appOwner.set(owner, (appOwner.get(owner) ?? 0) + dt);
    // Inclusive: every group and every function on the stack, once.
    const seen = new Set();
    const seenFn = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame;
      if (SPECIAL.has(f.functionName) || !f.url) continue;
      const at = place(f.url);
      if (!seen.has(at.group)) {
        seen.add(at.group);
        groupIncl.set(at.group, (groupIncl.get(at.group) ?? 0) + dt);
      }
      if (f.url.startsWith('node:') || !f.functionName) continue;
      const fn = `${f.functionName} — ${at.file}:${f.lineNumber + 1}`;
      if (!seenFn.has(fn)) {
        seenFn.add(fn);
        fnIncl.set(fn, (fnIncl.get(fn) ?? 0) + dt);
      }
    }
  }
  const busy = total - idle;
  const rank = (map, n = top) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, pctBusy: (100 * us) / busy }));
  return {
    file,
    windowed: overlaps,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    mainThreadBusyPct: total ? (100 * busy) / total : 0,
    gcPctBusy: busy ? (100 * gc) / busy : 0,
    topSelf: rank(self),
    groupsSelf: rank(groupSelf),
    groupsInclusive: rank(groupIncl),
    topInclusive: rank(fnIncl, 40),
    byProjectFunction: rank(appOwner, 40),
  };
}

export function profileMarkdown(summary, top = 15) {
  const pct = (x) => `${x.toFixed(1)} %`;
  const lines = [
    `Main thread busy ${pct(summary.mainThreadBusyPct)} of the measured time (${Math.round(summary.busyMs)} ms of ${Math.round(summary.totalMs)} ms); GC ${pct(summary.gcPctBusy)} of busy.${summary.windowed ? '' : ' (whole process: no overlap with the load windows)'}`,
    '',
    '| top self time | % of busy |',
    '|---|---:|',
    ...summary.topSelf.slice(0, top).map((row) => `| \`${row.name}\` | ${pct(row.pctBusy)} |`),
    '',
    '| by innermost project function (what our code spends, callees included) | % of busy |',
    '|---|---:|',
    ...summary.byProjectFunction.slice(0, top).map((row) => `| \`${row.name}\` | ${pct(row.pctBusy)} |`),
    '',
    '| top inclusive (own code and libraries) | % of busy |',
    '|---|---:|',
    ...summary.topInclusive
      .filter(
        (row) =>
          !/^(processTicksAndRejections|runMicrotasks|emit|next|handle|trampoline|dispatch) /.test(row.name),
      )
      .slice(0, top)
      .map((row) => `| \`${row.name}\` | ${pct(row.pctBusy)} |`),
    '',
    '| package / project folder | self | inclusive |',
    '|---|---:|---:|',
    ...summary.groupsInclusive.slice(0, top).map((row) => {
      const own = summary.groupsSelf.find((g) => g.name === row.name);
      return `| ${row.name} | ${own ? pct(own.pctBusy) : '—'} | ${pct(row.pctBusy)} |`;
    }),
  ];
  return lines.join('\n');
}
