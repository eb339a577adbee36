// Bundles the compiled server (dist/main.js) into one file, dist/bundle/main.js, which is what
// `npm start`, the Docker image and the benchmarks run. Resolving, reading and compiling some two
// thousand separate modules was more than half of the start-up time; one file halves it.
//
// The bundle sits two levels below the checkout, like dist/db/client.js, so paths resolved from
// import.meta.url (the drizzle/ migrations folder) mean the same in both.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Stays outside the bundle: native code, files loaded from the package's own folder, or code only some starts need. */
const EXTERNAL = [
  '@node-rs/bcrypt', // native addon
  '@electric-sql/pglite', // loads its WebAssembly and data files next to itself
  '@zxcvbn-ts/language-common', // the common-password list, required on first use
  '@graphql-yoga/render-graphiql', // the console page, imported on its first request
  'class-validator', // type-graphql's optional validator, switched off (src/app/schema.ts)
  'pg-native', // optional in drizzle-orm, never installed
];

export const BUNDLE = join('dist', 'bundle', 'main.js');

/**
 * Apollo hashes every operation with @apollo/utils.createhash, which picks Node's crypto through
 * `module.require` and otherwise a JavaScript SHA-256 (sha.js). Bundled CommonJS has no
 * `module.require`, so the bundle would hash every request in JavaScript: hand it Node's own.
 */
const nodeCryptoHashes = {
  name: 'node-crypto-hashes',
  setup(build) {
    build.onResolve({ filter: /^@apollo\/utils\.createhash$/ }, () => ({
      path: 'createhash',
      namespace: 'node-crypto-hashes',
    }));
    build.onLoad({ filter: /.*/, namespace: 'node-crypto-hashes' }, () => ({
      contents: "export { createHash } from 'node:crypto';",
      loader: 'js',
    }));
  },
};

export async function bundleServer(root = process.cwd()) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(root, 'dist', 'main.js')],
    outfile: join(root, BUNDLE),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // Smaller to parse. Identifiers stay as written, so stack traces keep their function names
    // (esbuild's keepNames would instead rename every function created at run time, per request).
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    // Bundled CommonJS packages call require(); ESM has none of its own.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'warning',
    plugins: [nodeCryptoHashes],
  });
  await buildEmbeddedTemplate(root);
}

/**
 * The migrated embedded database a first start loads instead of running initdb and every
 * migration (src/db/embedded-template.ts): dist/embedded/template.tar.gz.
 */
async function buildEmbeddedTemplate(root) {
  const { buildEmbeddedTemplate: build } = await import(
    pathToFileURL(join(root, 'dist', 'scripts', 'embedded-template.js')).href
  );
  await build();
}

/** True where esbuild is installed (dev installs); production images ship a built bundle. */
export function canBundle(root = process.cwd()) {
  return existsSync(join(root, 'node_modules', 'esbuild'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await bundleServer();
