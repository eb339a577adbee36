import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { connectDatabase } from '../db/client.js';

/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database). */
try {
  const config = loadConfig(process.env);
  const database = await connectDatabase(config.database);
  try {
    await database.migrate();
    console.log(
      `Migrations applied (${config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded, ${config.database.dataDir}`}).`,
    );
  } finally {
    await database.close();
  }
} catch (error) {
  console.error(
    error instanceof ConfigError ? error.message : `Migration failed: ${(error as Error).message}`,
  );
  process.exit(1);
}
