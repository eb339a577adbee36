import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLFormattedError } from 'graphql';
import type { Config } from '../config.js';
import { type Database, LOCKS, runMigrations } from '../db/client.js';
import { isEmptyDataDir } from '../db/embedded-template.js';
import { openDatabase } from '../db/wait-for-database.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { formatError } from '../kernel/errors.js';
import { createLogger, flushLogs, type Logger } from '../kernel/logger.js';
import { queryLimits } from '../modules/abuse/query-limits.js';
import { EmailTemplates } from '../modules/email/email.templates.js';
import { OutboxWorker } from '../modules/email/outbox.worker.js';
import { AppMetrics, metricsHandler } from '../modules/metrics/index.js';
import { PasswordHasher } from '../modules/passwords/index.js';
import { createClientRateLimiter } from '../modules/service-accounts/client-rate-limit.js';
import { OAuthMetrics } from '../modules/service-accounts/oauth.metrics.js';
import { bootstrapSystemTenant, prepareFirstAdminPassword } from '../modules/tenants/bootstrap.js';
import { buildApollo } from './apollo.js';
import { createConsole } from './console.js';
import type { Deps } from './context.js';
import { buildDeps } from './deps.js';
import { createRequestListener } from './http.js';
import { startBackgroundJobs } from './jobs.js';
import { RequestLog } from './plugins.js';
import { buildAppSchema } from './schema.js';
import { type SharedState } from './shared-state.js';
import { createWebSocketServer } from './ws.js';

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /** An already-connected database (tests); otherwise one is opened from the config. */
  database?: Database;
  /** A server that is already listening (main starts one early so /health answers at once). */
  httpServer?: Server;
}

export interface App {
  services: Deps;
  httpServer: Server;
  /** Starts listening; resolves to the base URL, e.g. http://127.0.0.1:8006. */
  listen(port?: number, host?: string): Promise<string>;
  /** The base URL of a listening server. */
  url(): string;
  /** Stops accepting, finishes in-flight requests, closes sockets and pools. */
  close(): Promise<void>;
  /** Milliseconds each start-up step took (logged once listening). */
  startupMs: Record<string, number>;
}

/**
 * Builds the whole service: database (migrated, bootstrapped), keys, schema, HTTP and WebSocket
 * servers. Nothing listens until `listen` is called.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger =
    options.logger ??
    createLogger(config.logLevel, undefined, {
      format: config.logFormat,
      colors: config.logToTerminal,
    });
  const clock = options.clock ?? systemClock;
  const startupMs: Record<string, number> = {};
  let stepStarted = performance.now();
  const step = (name: string) => {
    const now = performance.now();
    startupMs[name] = Math.round(now - stepStarted);
    stepStarted = now;
  };
  // Building the schema is CPU work alone: it runs in the first wait for PostgreSQL (connecting,
  // migrating, hashing the first admin's password) instead of after them.
  const schemaBuild = new Promise<void>((resolve) => setImmediate(resolve)).then(() => buildAppSchema());
  schemaBuild.catch(() => {}); // awaited below; a failure before that must not go unhandled
  // One registry per app instance (never prom-client's global one): test servers share a process.
  const metrics = new AppMetrics();
  const hasher = new PasswordHasher({
    cost: config.passwords.bcryptCost,
    pepper: config.passwords.pepper,
    onHashDuration: metrics.observeHash,
  });
  // Made on libuv's threads while the database opens and migrates, before the first sign-in could
  // notice the cost.
  const dummyReady = hasher.prepareDummy();
  dummyReady.catch(() => {}); // awaited below; a failure before that must not go unhandled
  // A new embedded database will get its first admin: that password's hash is made now as well,
  // rather than after the database has opened.
  const firstAdmin =
    !options.database && config.database.kind === 'pglite' && isEmptyDataDir(config.database.dataDir)
      ? prepareFirstAdminPassword(config, hasher)
      : undefined;
  firstAdmin?.catch(() => {}); // used by the bootstrap; a failure there hashes again
  const database =
    options.database ??
    (await openDatabase(config, {
      warn: (message) => logger.warn(message),
      info: (message) => logger.info(message),
    }));
  const ownsDatabase = !options.database;
  step('database');
  let shared: SharedState | undefined;
  let outbox: OutboxWorker | undefined;
  try {
    // A template that cannot be used stops the start, before anything is migrated.
    const templates = await EmailTemplates.load(config.email.templatesDir);
    // Instances starting together take turns: one migrates and bootstraps, the others then find it done.
    await database.withAdvisoryLock(LOCKS.startup, async (db) => {
      await runMigrations(database.kind, db);
      step('migrations');
      await bootstrapSystemTenant(db, { config, hasher, clock, logger, prepared: firstAdmin });
      step('bootstrap');
    });
    await dummyReady;
    step('dummyHash');
    const built = await buildDeps(
      { config, database, clock, logger, metrics, hasher, templates },
      step,
      (opened) => {
        shared = opened.shared ?? shared;
        outbox = opened.outbox ?? outbox;
      },
    );
    const { deps: services } = built;
    const redis = built.shared.redis;
    built.outbox.start();
    const stopJobs = startBackgroundJobs(services);

    step('services');
    const schema = await schemaBuild;
    step('schema');
    const limits = queryLimits({
      hideFieldSuggestions: config.isProduction,
      cost: { listSizes: { 'Query.mySessions': config.maxSessionsPerUser } },
    });
    const format = (formatted: GraphQLFormattedError, error: unknown) =>
      formatError(formatted, error, {
        debug: config.debugErrors,
        hideSuggestions: config.isProduction,
        onUnexpected: (unexpected) => logger.error({ err: unexpected }, 'unexpected error while resolving'),
      });
    const requestLog = new RequestLog();
    const httpServer = options.httpServer ?? createServer();
    const ws = createWebSocketServer(
      httpServer,
      schema,
      services,
      { ...limits, introspection: config.introspection },
      format,
    );
    const redisClient = redis;
    metrics.watch({
      pool: () => database.poolStats(),
      webSockets: () => ws.wsServer.clients.size,
      redisReady: redisClient ? () => redisClient.status === 'ready' : undefined,
      statements: () => database.statements.count,
    });
    const apollo = buildApollo({
      config,
      deps: services,
      schema,
      limits,
      format,
      metrics,
      requestLog,
      httpServer,
      closeWebSockets: () => ws.close(),
    });
    await apollo.start();
    step('apollo');
    flushLogs(logger);
    httpServer.removeAllListeners('request');
    httpServer.on(
      'request',
      createRequestListener(services, apollo, redis, requestLog, {
        metrics: metricsHandler(metrics.registry, config.metrics),
        oauth: (ipOf) => ({
          services,
          clientLimiter: createClientRateLimiter({
            pointsPerMinute: config.rateLimit.clientPerMinute,
            redis,
          }),
          metrics: new OAuthMetrics(metrics.registry),
          ipOf,
        }),
        console: config.graphiql
          ? createConsole({ schema, systemTenantSlug: config.systemTenantSlug })
          : undefined,
      }),
    );

    const url = () => {
      const address = httpServer.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
    };
    let closed: Promise<void> | undefined;
    step('http');
    return {
      services,
      httpServer,
      url,
      startupMs,
      listen: (port = config.http.port, host = config.http.host) =>
        new Promise((resolve, reject) => {
          httpServer.once('error', reject);
          httpServer.listen(port, host, () => {
            httpServer.off('error', reject);
            resolve(url());
          });
        }),
      close: () => {
        closed ??= (async () => {
          built.stop();
          await stopJobs();
          // What this instance counted since the last minute is written before it goes.
          await services.serviceAccounts.usage.flush().catch(() => {});
          await apollo.stop();
          await services.background.idle();
          await outbox?.stop();
          await shared?.close();
          if (ownsDatabase) await database.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    await outbox?.stop().catch(() => {});
    await shared?.close().catch(() => {});
    if (ownsDatabase) await database.close().catch(() => {});
    throw error;
  }
}
