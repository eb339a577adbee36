import { MIGRATIONS_FOLDER, runMigrations } from '../db/client.js';
import { TEMPLATE_FILE, writeTemplate } from '../db/embedded-template.js';

/**
 * Build step (scripts/bundle.mjs runs it after bundling): an in-memory embedded database with
 * every migration applied, dumped to dist/embedded/template.tar.gz for first starts to load.
 */
export async function buildEmbeddedTemplate(): Promise<string> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  const { btree_gin } = await import('@electric-sql/pglite/contrib/btree_gin');
  const { drizzle } = await import('drizzle-orm/pglite');
  const client = await PGlite.create({ extensions: { pg_trgm, btree_gin } });
  try {
    await runMigrations('pglite', drizzle(client) as never);
    const dump = await client.dumpDataDir('gzip');
    writeTemplate(MIGRATIONS_FOLDER, new Uint8Array(await dump.arrayBuffer()));
  } finally {
    await client.close();
  }
  return TEMPLATE_FILE;
}
