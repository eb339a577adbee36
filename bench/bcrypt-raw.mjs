// Raw @node-rs/bcrypt verify throughput on this machine: the reference for the login scenario.
// node bench/bcrypt-raw.mjs <cost> <seconds> <concurrency>  → one JSON line on stdout.
// The input is shaped like the service's (a 44-character base64 SHA-256 pre-hash).
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/bcrypt';

const cost = Number(process.argv[2] ?? 10);
const seconds = Number(process.argv[3] ?? 5);
const concurrency = Number(process.argv[4] ?? availableParallelism());
const input = createHash('sha256').update('seeded password 2024!').digest('base64');
const stored = await hash(input, cost);

let done = 0;
const started = performance.now();
const deadline = started + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      if (!(await verify(input, stored))) throw new Error('verify failed');
      done++;
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ cost, concurrency, verifies: done, seconds: elapsed, rate: done / elapsed })}\n`,
);
