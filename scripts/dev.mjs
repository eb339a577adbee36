// `npm run dev`: rebuild with tsc --watch and restart the server whenever dist/ changes.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildIfNeeded } from './build-if-needed.mjs';

await buildIfNeeded();
const tsc = spawn(
  process.execPath,
  [
    join('node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    'tsconfig.build.json',
    '--watch',
    '--preserveWatchOutput',
  ],
  {
    stdio: 'inherit',
  },
);
const server = spawn(process.execPath, ['--enable-source-maps', '--watch-path=dist', 'dist/main.js'], {
  stdio: 'inherit',
});
const stop = () => {
  tsc.kill('SIGTERM');
  server.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
server.on('exit', (code) => process.exit(code ?? 0));
