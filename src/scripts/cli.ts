import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig } from '../config.js';
import type { Database } from '../db/client.js';
import { openDatabase } from '../db/wait-for-database.js';
import { redactCredentials } from '../kernel/redact.js';

/**
 * The frame every command-line tool shares: `--help` prints the usage and does nothing else
 * (no configuration read, no database opened); unknown options print the usage and exit 2;
 * failures print one line (never a stack, never a credential) and exit 1.
 */
export interface CliSpec<Options extends NonNullable<ParseArgsConfig['options']>> {
  /** Usage text, first line `usage: …`. */
  usage: string;
  options?: Options;
  allowPositionals?: boolean;
  run(
    args: ReturnType<typeof parseArgs<{ options: Options; allowPositionals: true; strict: true }>>,
  ): Promise<void>;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export async function runCli<Options extends NonNullable<ParseArgsConfig['options']>>(
  spec: CliSpec<Options>,
): Promise<void> {
  const argv = process.argv.slice(2);
  // Before parsing, so that `--help` wins over anything else on the line.
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${spec.usage.trim()}\n`);
    return;
  }
  let args: Parameters<CliSpec<Options>['run']>[0];
  try {
    args = parseArgs({
      args: argv,
      options: (spec.options ?? {}) as Options,
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
    }) as Parameters<CliSpec<Options>['run']>[0];
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${spec.usage.trim()}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    await spec.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${spec.usage.trim()}\n`);
      process.exitCode = 2;
      return;
    }
    const message = error instanceof Error ? error.message || error.name : String(error);
    process.stderr.write(`${redactCredentials(message)}\n`);
    process.exitCode = 1;
  }
}

/** The configuration, or a ConfigError whose one line runCli prints. */
export function cliConfig(): Config {
  return loadConfig(process.env);
}

export { ConfigError };

/**
 * Opens the configured database for a tool (locking an embedded one, waiting for PostgreSQL),
 * brings its schema up to date, runs `work` and closes it.
 */
export async function withDatabase<T>(config: Config, work: (database: Database) => Promise<T>): Promise<T> {
  const say = (message: string) => process.stderr.write(`${message}\n`);
  const database = await openDatabase(config, { warn: say, info: say });
  try {
    await database.migrate();
    return await work(database);
  } finally {
    await database.close();
  }
}
