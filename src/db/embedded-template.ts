import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/**
 * A ready embedded database, made once at build time: PGlite's initdb run and every migration of
 * drizzle/ applied, dumped as a tarball (dist/embedded/template.tar.gz). A first start on an
 * empty DATA_DIR unpacks it there instead of running initdb and the migrations, the slowest part
 * of the first start; PGlite then opens it as it opens any existing data directory. It is used only
 * when it was made from this very migration set and PGlite version (its key); otherwise the start
 * does what it always did. The migrator still runs after and finds nothing to do.
 *
 * Both dist/db/ and dist/bundle/ sit two levels below the checkout, so the path means the same
 * from the compiled modules and from the bundle.
 */
export const TEMPLATE_FILE = fileURLToPath(new URL('../embedded/template.tar.gz', import.meta.url));
const KEY_FILE = `${TEMPLATE_FILE}.key`;

/** Names the migration set (drizzle/, files and contents) and the PGlite build that made a template. */
export function templateKey(migrationsFolder: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(`${path.slice(migrationsFolder.length)}\0`).update(readFileSync(path));
    }
  };
  walk(migrationsFolder);
  hash.update(`pglite ${pgliteVersion()}`);
  return hash.digest('hex');
}

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@electric-sql/pglite');
  // <package>/dist/index.cjs
  const manifest = join(dirname(entry), '..', 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** The packed template for this migration set, when the build made one; undefined otherwise. */
function readTemplate(migrationsFolder: string): Buffer | undefined {
  try {
    if (!existsSync(TEMPLATE_FILE) || !existsSync(KEY_FILE)) return undefined;
    if (readFileSync(KEY_FILE, 'utf8').trim() !== templateKey(migrationsFolder)) return undefined;
    return readFileSync(TEMPLATE_FILE);
  } catch {
    return undefined;
  }
}

const field = (header: Buffer, start: number, length: number) =>
  header
    .subarray(start, start + length)
    .toString('utf8')
    .replace(/\0.*$/s, '');

/**
 * Unpacks the template into an empty `dataDir` (the tar PGlite's dumpDataDir writes: ustar
 * directories and files). PG_VERSION, which makes the directory a database, is written last, so a
 * start stopped half-way leaves a directory that is still "empty" and is unpacked again next time.
 * Returns false (and does nothing) without a template for this migration set.
 */
export function unpackTemplate(migrationsFolder: string, dataDir: string): boolean {
  if (!isEmptyDataDir(dataDir)) return false;
  const packed = readTemplate(migrationsFolder);
  if (!packed) return false;
  const tar = gunzipSync(packed);
  const root = resolve(dataDir);
  let version: Buffer | undefined;
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const prefix = field(header, 345, 155);
    const name = `${prefix ? `${prefix}/` : ''}${field(header, 0, 100)}`.replace(/^\/+/, '');
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    const target = resolve(root, name);
    if (name === '' || !target.startsWith(root + sep)) continue;
    if (type === '5') mkdirSync(target, { recursive: true });
    else if (type === '0' || type === '\0') {
      if (name === 'PG_VERSION') {
        version = Buffer.from(body);
        continue;
      }
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, body);
    }
  }
  if (!version) throw new Error(`the embedded database template ${TEMPLATE_FILE} has no PG_VERSION`);
  writeFileSync(join(root, 'PG_VERSION'), version);
  return true;
}

/** True when `dataDir` holds no embedded database yet (in memory: always). */
export function isEmptyDataDir(dataDir: string | undefined): boolean {
  return !dataDir || !existsSync(join(dataDir, 'PG_VERSION'));
}

/** Writes the template (build time): `dump` is the gzipped data directory of a migrated database. */
export function writeTemplate(migrationsFolder: string, dump: Uint8Array): void {
  mkdirSync(dirname(TEMPLATE_FILE), { recursive: true });
  const temporary = `${TEMPLATE_FILE}.${process.pid}`;
  writeFileSync(temporary, dump);
  renameSync(temporary, TEMPLATE_FILE);
  writeFileSync(KEY_FILE, `${templateKey(migrationsFolder)}\n`);
}
