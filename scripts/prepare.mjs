// Runs after `npm ci`: compile now so that the first `npm start` serves within seconds.
// Production installs (--omit=dev) have no TypeScript and ship a built dist/; skip quietly there.
import { existsSync } from 'node:fs';
import { buildIfNeeded } from './build-if-needed.mjs';
import { patchPostgres } from './patch-postgres.mjs';

// A crash fix for the database driver (see patch-postgres.mjs), before anything runs.
patchPostgres();

if (existsSync('node_modules/typescript') && existsSync('src')) await buildIfNeeded();
