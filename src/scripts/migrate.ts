import 'reflect-metadata';
import { cliConfig, runCli, withDatabase } from './cli.js';

await runCli({
  usage: `
usage: npm run db:migrate

Applies pending migrations (drizzle/) to DATABASE_URL, or to the embedded database in DATA_DIR
when DATABASE_URL is unset. The server also applies them at every start; this is for applying
them ahead of a deployment. On PostgreSQL, instances starting at the same time take turns.`,
  run: async () => {
    const config = cliConfig();
    await withDatabase(config, async () => {});
    console.log(
      `Migrations applied (${config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded, ${config.database.dataDir ?? 'in memory'}`}).`,
    );
  },
});
