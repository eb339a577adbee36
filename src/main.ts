import 'reflect-metadata';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { createApp } from './app/app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { DatabaseUnavailableError } from './db/wait-for-database.js';
import { DataDirError, lockDataDir } from './kernel/data-dir-lock.js';
import { createLogger, flushLogs } from './kernel/logger.js';
import { redactCredentials } from './kernel/redact.js';
import { EmailTemplateError } from './modules/email/email.templates.js';
import { SigningKeyError } from './modules/keys/index.js';
import { BootstrapError } from './modules/tenants/bootstrap.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

// Every request leaves short-lived garbage; V8 by default lets the heap grow to several times the
// live data between full collections (up to 4 x, and it kept some 130 MB for 30 MB of live data
// under steady load). A fixed factor of 2 holds the heap near twice the live data for the same
// throughput (docs/benchmarks.md, "rss"). V8 reads this flag at every collection.
setFlagsFromString('--heap-growing-percent=100');

/** Stops the process with one line for the operator (never a stack, never a credential). */
function fail(message: string): never {
  console.error(redactCredentials(message));
  process.exit(1);
}

const USAGE = `usage: npm start  (or: node dist/bundle/main.js)

Serves the identity API: GraphQL and WebSocket at /graphql, /health, /ready, /metrics and
/.well-known/jwks.json, on PORT (default 8006). Configured by environment variables only (each
may also be read from a file named by <NAME>_FILE); README.md and .env.example list them all.
Without DATABASE_URL the data lives in an embedded database in DATA_DIR (default ./.data).`;

async function main() {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  // Before listening: a second process on the same embedded database stops here, saying why.
  if (config.database.kind === 'pglite' && config.database.dataDir) {
    try {
      lockDataDir(config.database.dataDir);
    } catch (error) {
      if (error instanceof DataDirError) fail(`Start-up failed: ${error.message}`);
      throw error;
    }
  }
  const logger = createLogger(config.logLevel, undefined, {
    format: config.logFormat,
    colors: config.logToTerminal,
  });
  const started = Date.now();
  // Listen before the database is ready: liveness answers at once, everything else says
  // "starting" (503) until the service can really serve.
  const httpServer = createServer(startingUp);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.http.port, config.http.host, () => resolve());
  }).catch((error: Error) =>
    fail(`Start-up failed: cannot listen on ${config.http.host}:${config.http.port}: ${error.message}`),
  );
  // Stopped while starting: nothing is served yet, so leave at once (exit handlers release the
  // data directory's lock, which the default action of the signal would not run).
  const early = (signal: NodeJS.Signals) => {
    console.error(`Stopped by ${signal} while starting.`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGTERM', early);
  process.on('SIGINT', early);
  const app = await createApp(config, { logger, httpServer }).catch((error: unknown) => {
    flushLogs(logger);
    if (
      error instanceof BootstrapError ||
      error instanceof SigningKeyError ||
      error instanceof DataDirError ||
      error instanceof DatabaseUnavailableError ||
      error instanceof EmailTemplateError
    ) {
      fail(`Start-up failed: ${error.message}`);
    }
    const where =
      config.database.kind === 'postgres'
        ? 'the PostgreSQL server at DATABASE_URL'
        : `the embedded database in ${config.database.dataDir ?? 'memory'}`;
    fail(`Start-up failed: could not prepare ${where}: ${describeError(error)}`);
  });
  const url = app.url();
  logger.info(
    {
      url,
      database: config.database.kind,
      redis: config.redis.mode,
      email: app.services.mailer.outbox.transportKind,
      startupMs: Date.now() - started,
      startupSteps: app.startupMs,
    },
    `identity API listening on ${url}/graphql`,
  );
  if (config.metrics.closedWithoutToken && !config.metrics.token) {
    logger.warn('GET /metrics answers 401 to everyone: set METRICS_TOKEN to let Prometheus scrape it');
  }
  flushLogs(logger);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    const stopBegan = Date.now();
    app.close().then(
      () => {
        logger.info({ shutdownMs: Date.now() - stopBegan }, 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.off('SIGTERM', early);
  process.off('SIGINT', early);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Some failures (file-system errors from the embedded database among them) carry no message. */
function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return error.message || (code ? `${error.name} ${code}` : error.name);
  }
  return String(error);
}

const STARTING_BODY = JSON.stringify({
  errors: [
    {
      message: 'The service is starting; try again in a moment.',
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    },
  ],
});

/** Answers while the service starts: liveness yes, anything else 503 with Retry-After. */
function startingUp(req: IncomingMessage, res: ServerResponse) {
  res.setHeader('content-type', 'application/json; charset=utf-8');
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') {
    res.end('{"status":"ok"}');
    return;
  }
  res.statusCode = 503;
  res.setHeader('retry-after', '1');
  res.setHeader('cache-control', 'no-store');
  res.end(path === '/graphql' ? STARTING_BODY : '{"status":"starting"}');
}

void main();
