// Fixes a crash in postgres.js 3.4.x (porsager/postgres#1066, #1154, #1208; fixes proposed in #1168,
// #1176, #1209, unreleased): a small write is deferred with setImmediate, the connection closes
// before it runs (the database restarts, a transaction's rollback is sent on a dead connection),
// and `socket.write` on the nulled socket throws from the immediate, where nothing can catch it:
// the process dies. The thrown write also leaves `nextWriteTimer` set, so that connection never
// flushes a small write again (its queries hang until the connect timeout, again and again).
//
// The patch makes a write without a socket fail its queries with CONNECTION_CLOSED (catchable,
// answered as "temporarily unavailable") and resets the write buffer whenever a connection closes.
// Idempotent; run by `npm ci` (scripts/prepare.mjs), the test setup and the Docker image.
// Remove it once a postgres release contains the fix (the script then reports nothing to patch).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARKER = 'identity-api: guard writes without a socket';

const FIXES = [
  [
    `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`,
    `  function nextWrite(fn) {
    if (!socket) { // ${MARKER}
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)`,
  ],
  [
    `    clearImmediate(nextWriteTimer)
    if (socket) {`,
    `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null
    if (socket) {`,
  ],
  [
    `    clearImmediate(nextWriteTimer)
    socket.removeListener('data', data)`,
    `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null
    socket.removeListener('data', data)`,
  ],
];

export function patchPostgres(root = join(dirname(fileURLToPath(import.meta.url)), '..')) {
  const results = [];
  for (const flavour of ['src', 'cjs/src', 'cf/src']) {
    const file = join(root, 'node_modules', 'postgres', flavour, 'connection.js');
    if (!existsSync(file)) continue;
    let text = readFileSync(file, 'utf8');
    if (text.includes(MARKER)) {
      results.push(`${flavour}: already patched`);
      continue;
    }
    if (!FIXES.every(([from]) => text.includes(from))) {
      results.push(`${flavour}: not patched (the code changed: check whether the fix was released)`);
      continue;
    }
    for (const [from, to] of FIXES) text = text.replace(from, to);
    writeFileSync(file, text);
    results.push(`${flavour}: patched`);
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of patchPostgres()) console.error(`postgres.js connection.js ${line}`);
}
