// Runs a compiled CLI from dist/ (building first when needed): node scripts/run-built.mjs dist/scripts/x.js [args]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildIfNeeded } from './build-if-needed.mjs';

const [target] = process.argv.splice(2, 1);
if (!target) {
  console.error('usage: node scripts/run-built.mjs dist/<script>.js [args…]');
  process.exit(2);
}
await buildIfNeeded();
await import(pathToFileURL(resolve(target)).href);
