import type { TestServer } from './server.js';

/** Samples of a Prometheus text answer, keyed by series (`name{labels}` as written). */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (match?.[1] !== undefined) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

/** GET /metrics, optionally with a Bearer token. */
export function scrape(server: Pick<TestServer, 'url'>, token?: string): Promise<Response> {
  return fetch(`${server.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** The series (among those `keep` selects) whose value changed between two scrapes, with the change. */
export function changes(
  before: Map<string, number>,
  after: Map<string, number>,
  keep: (series: string) => boolean,
): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [series, value] of after) {
    if (!keep(series)) continue;
    const delta = value - (before.get(series) ?? 0);
    if (delta !== 0) changed[series] = delta;
  }
  return changed;
}
