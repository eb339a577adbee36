// `npm start`: build when needed, then run the compiled server in this process.
import { buildIfNeeded } from './build-if-needed.mjs';

await buildIfNeeded();
await import('../dist/bundle/main.js');
