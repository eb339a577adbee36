import 'reflect-metadata';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger, flushLogs } from './lib/logger.js';
import { SigningKeyError } from './modules/keys/index.js';
import { BootstrapError } from './modules/tenants/bootstrap.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

// Every request leaves short-lived garbage; V8 by default lets the heap grow to several times the
// live data between full collections (up to 4 x, and it kept some 130 MB for 30 MB of live data
// under steady load). A fixed factor of 2 holds the heap near twice the live data for the same
// throughput (docs/benchmarks.md, "rss"). V8 reads this flag at every collection.
setFlagsFromString('--heap-growing-percent=100');

async function main() {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
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
  }).catch((error: Error) => {
    console.error(
      `Start-up failed: cannot listen on ${config.http.host}:${config.http.port}: ${error.message}`,
    );
    process.exit(1);
  });
  const app = await createApp(config, { logger, httpServer }).catch((error: unknown) => {
    if (error instanceof BootstrapError || error instanceof SigningKeyError) {
      console.error(`Start-up failed: ${error.message}`);
    } else {
      const where =
        config.database.kind === 'postgres'
          ? 'the PostgreSQL server at DATABASE_URL'
          : `the embedded database in ${config.database.dataDir ?? 'memory'}`;
      console.error(`Start-up failed: could not prepare ${where}: ${(error as Error).message}`);
    }
    process.exit(1);
  });
  const url = app.url();
  logger.info(
    {
      url,
      database: config.database.kind,
      redis: config.redis.mode,
      startupMs: Date.now() - started,
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function startingUp(req: IncomingMessage, res: ServerResponse) {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/health') {
    res.end('{"status":"ok"}');
    return;
  }
  res.statusCode = 503;
  res.setHeader('retry-after', '1');
  res.end('{"status":"starting"}');
}

void main();
