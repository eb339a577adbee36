import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The rules of a feature folder that the import-boundary check cannot see, read from the source:
 * SQL only in `*.queries.ts`, transactions only through the unit of work, and no module-level
 * state carrying what a write must do after it commits (docs/architecture.md, "Writes: one unit
 * of work" and "Layers and folders").
 */
const root = resolve(import.meta.dirname, '..');

function sources(dir: string): { path: string; text: string }[] {
  const found: { path: string; text: string }[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const full = join(entry.parentPath, entry.name);
    found.push({ path: relative(root, full), text: readFileSync(full, 'utf8') });
  }
  return found;
}

const modules = sources('src/modules');
/** The tables of src/db/schema.ts, by the names the code uses for them. */
const tables = [
  ...readFileSync(join(root, 'src/db/schema.ts'), 'utf8').matchAll(/export const (\w+) = pgTable\(/g),
].map((match) => match[1]);
const statement = new RegExp(`\\.(insert|update|delete)\\(\\s*(${tables.join('|')})\\s*\\)`);
const kernel = sources('src/kernel');
const isQueries = (path: string) => path.endsWith('.queries.ts');

describe('feature folders', () => {
  it('reads them all', () => {
    expect(tables).toContain('users');
    expect(modules.length).toBeGreaterThan(100);
    expect(modules.filter((file) => isQueries(file.path)).length).toBeGreaterThan(15);
  });

  it('keep their SQL in *.queries.ts: no Drizzle import and no insert/update/delete elsewhere', () => {
    const offenders = modules
      .filter((file) => !isQueries(file.path))
      .filter((file) => /from 'drizzle-orm'/.test(file.text) || statement.test(file.text))
      .map((file) => file.path);
    expect(offenders).toEqual([]);
  });

  it('open no transaction in a service, resolver or loader: writes go through the unit of work', () => {
    const offenders = modules
      .filter((file) => /\.(service|resolver|loaders)\.ts$/.test(file.path))
      .filter((file) => /\.transaction\(/.test(file.text))
      .map((file) => file.path);
    expect(offenders).toEqual([]);
  });

  it('keep no after-commit state in module-level WeakMaps or Proxies', () => {
    // kernel/rules.ts remembers each rule's shape (a fact of the rule, never of a write).
    const allowed = new Set(['src/kernel/rules.ts']);
    const offenders = [...modules, ...kernel]
      .filter((file) => !allowed.has(file.path))
      .filter((file) => /new (WeakMap|Proxy)\b/.test(file.text))
      .map((file) => file.path);
    expect(offenders).toEqual([]);
  });

  it('announce nothing themselves: changes are recorded on the unit of work, published after commit', () => {
    // Only what publishes a committed unit's record (realtime/changes.ts) and the streams'
    // own plumbing may publish events.
    const allowed = new Set(['src/modules/realtime/changes.ts', 'src/modules/realtime/event-bus.ts']);
    const offenders = modules
      .filter((file) => !allowed.has(file.path))
      .filter((file) => /\bevents\.publish\(/.test(file.text))
      .map((file) => file.path);
    expect(offenders).toEqual([]);
  });
});
