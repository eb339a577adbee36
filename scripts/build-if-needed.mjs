// Compiles src/ into dist/ and bundles the server (scripts/bundle.mjs) unless the bundle is already
// newer than every source file.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, bundleServer, canBundle } from './bundle.mjs';

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export async function buildIfNeeded(root = process.cwd()) {
  const marker = join(root, BUNDLE);
  // A production image ships dist/ without the sources: nothing to compare, nothing to build.
  if (!existsSync(join(root, 'src')) && existsSync(marker)) return;
  const sources = Math.max(
    newestMtime(join(root, 'src')),
    // The embedded database's template (dist/embedded/) holds every migration.
    newestMtime(join(root, 'drizzle')),
    statSync(join(root, 'package-lock.json')).mtimeMs,
    statSync(join(root, 'tsconfig.json')).mtimeMs,
    statSync(join(root, 'scripts', 'bundle.mjs')).mtimeMs,
  );
  if (existsSync(marker) && statSync(marker).mtimeMs >= sources) return;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    console.error(
      'dist/ is missing or stale and TypeScript is not installed: run `npm ci` (with dev dependencies) first.',
    );
    process.exit(1);
  }
  console.error('Building (tsc)…');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
  if (!canBundle(root)) {
    console.error('esbuild is not installed: run `npm ci` (with dev dependencies) first.');
    process.exit(1);
  }
  await bundleServer(root);
}
