import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import type { GraphQLFormattedError } from 'graphql';
import type { Config } from '../config.js';
import { type Database, LOCKS, runMigrations } from '../db/client.js';
import { isEmptyDataDir } from '../db/embedded-template.js';
import { openDatabase } from '../db/wait-for-database.js';
import { BackgroundWork } from '../kernel/background.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { formatError } from '../kernel/errors.js';
import { createLogger, flushLogs, type Logger } from '../kernel/logger.js';
import { startPeriodicJob } from '../kernel/periodic.js';
import { authOperationsPlugin } from '../modules/abuse/auth-operations.js';
import { createEmailBudget } from '../modules/abuse/email-budget.js';
import { queryLimits } from '../modules/abuse/query-limits.js';
import { createAuthRateLimiter } from '../modules/abuse/rate-limits.js';
import { purgeAuditEvents } from '../modules/audit/retention.js';
import { Mailer } from '../modules/email/email.service.js';
import { EmailTemplates } from '../modules/email/email.templates.js';
import { createEmailTransport } from '../modules/email/email.transport.js';
import { OutboxWorker } from '../modules/email/outbox.worker.js';
import { AccessTokens, SigningKeyStore } from '../modules/keys/index.js';
import { AppMetrics, metricsHandler, metricsPlugin } from '../modules/metrics/index.js';
import { CeremonyStore } from '../modules/mfa/ceremony-store.js';
import { purgeLoginChallenges } from '../modules/mfa/mfa.queries.js';
import { TotpSecretBox } from '../modules/mfa/secret-box.js';
import { PasswordHasher } from '../modules/passwords/index.js';
import { connectAuditFeed } from '../modules/realtime/audit-feed.js';
import { createClientRateLimiter } from '../modules/service-accounts/client-rate-limit.js';
import { OAuthMetrics } from '../modules/service-accounts/oauth.metrics.js';
import { oauthRouter } from '../modules/service-accounts/oauth.routes.js';
import { createServiceAccountsRuntime } from '../modules/service-accounts/runtime.js';
import { purgeRevokedTokens } from '../modules/service-accounts/service-accounts.queries.js';
import { cleanUpSessions } from '../modules/sessions/session-cleanup.js';
import { SessionGuard } from '../modules/sessions/session-guard.js';
import { bootstrapSystemTenant, prepareFirstAdminPassword } from '../modules/tenants/bootstrap.js';
import { createCommitEffects } from './commit-effects.js';
import { createConsole } from './console.js';
import type { Context, Deps } from './context.js';
import { createRequestListener } from './http.js';
import { outcomePlugin, RequestLog, requestLogPlugin } from './plugins.js';
import { buildAppSchema } from './schema.js';
import { openSharedState, type SharedState, sharedStateReady } from './shared-state.js';
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
    const keys = await SigningKeyStore.open(database.db, {
      direct: database.withDirect,
      keyEncryptionKey: config.jwt.keyEncryptionKey,
      signingKeyJwk: config.jwt.signingKeyJwk,
      clock,
      maxAccessTokenTtlSeconds: config.jwt.accessTokenTtlSeconds,
      onReloadError: (error) => logger.warn({ err: error }, 'could not reload signing keys'),
    });
    step('signingKeys');
    // Picks up keys rotated by another instance before their tokens reach us.
    const keyReload = setInterval(() => {
      keys.reload().catch((error: unknown) => logger.warn({ err: error }, 'could not reload signing keys'));
    }, 60_000);
    keyReload.unref();
    const tokens = new AccessTokens(keys, {
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      clock,
    });
    // This app's own handle on the database (the same pool): audit events written through it are
    // announced on this app's event bus, even when apps in one process (tests) share a pool.
    const db = new Proxy(database.db, {});
    // Cache, invalidations and subscription events, shared by every instance through Redis.
    shared = openSharedState(config, db, clock, logger);
    if (!(await sharedStateReady(shared))) {
      logger.warn('Redis is not reachable: starting without it (reading through to PostgreSQL) until it is');
    }
    const { redis, cache, events } = shared;
    connectAuditFeed(db, events);
    const sessionGuard = new SessionGuard(cache, clock, config.systemTenantSlug);
    const authRateLimiter = createAuthRateLimiter({
      pointsPerMinute: config.rateLimit.authPerMinute,
      redis,
      logger,
    });
    const serviceAccounts = createServiceAccountsRuntime({
      db,
      clock,
      logger,
      cache,
      tokens,
      pepper: config.credentialPepper,
      systemTenantSlug: config.systemTenantSlug,
    });
    const transport = await createEmailTransport({
      smtpUrl: config.email.smtpUrl,
      from: config.email.from,
      logger,
    });
    if (transport.kind === 'log' && config.isProduction) {
      logger.warn('SMTP_URL is unset: emails are written to the log, not sent');
    }
    outbox = new OutboxWorker({ db, clock, logger, transport, config: config.email });
    const background = new BackgroundWork(logger);
    const services: Deps = {
      config,
      database,
      db,
      readDb: database.readDb === database.db ? db : database.readDb,
      clock,
      logger,
      hasher,
      keys,
      tokens,
      sessionGuard,
      cache,
      events,
      authRateLimiter,
      metrics,
      serviceAccounts,
      mfa: {
        secrets: new TotpSecretBox(config.jwt.keyEncryptionKey),
        ceremonies: new CeremonyStore(redis, shared.health, logger, () => clock.now().getTime()),
      },
      mailer: new Mailer(templates, outbox, config.publicUrl),
      emailBudget: createEmailBudget({ perHour: config.email.perAddressPerHour, redis, logger }),
      background,
      commitEffects: createCommitEffects({ cache, events, clock, logger }),
    };
    outbox.start();
    // Tokens issued and credentials used, written once a minute per account (see usage.ts).
    const stopUsageFlush = startPeriodicJob({
      name: 'service-account-usage',
      intervalMs: 60_000,
      logger,
      work: async () => {
        await serviceAccounts.usage.flush();
        await purgeRevokedTokens(database.db, clock.now());
      },
    });
    const stopAuditPurge = startPeriodicJob({
      name: 'audit-retention',
      intervalMs: 60 * 60_000,
      logger,
      work: async () => {
        const cutoff = new Date(clock.now().getTime() - config.auditRetentionDays * 86_400_000);
        const purged = await purgeAuditEvents(database.db, cutoff);
        if (purged > 0) logger.info({ purged, cutoff }, 'purged old audit events');
      },
    });
    // Ended and expired sessions go after SESSION_RETENTION_DAYS; safe on every instance at once.
    const stopSessionCleanup = startPeriodicJob({
      name: 'session-cleanup',
      intervalMs: 15 * 60_000,
      logger,
      work: async () => {
        const done = await cleanUpSessions(database.db, clock.now(), config.sessionRetentionDays);
        if (done.expired + done.deleted > 0) logger.info(done, 'cleaned up sessions');
        // Second steps of sign-ins live five minutes; a day later nothing refers to them.
        const challenges = await purgeLoginChallenges(
          database.db,
          new Date(clock.now().getTime() - 86_400_000),
        );
        if (challenges > 0) logger.info({ challenges }, 'removed old sign-in challenges');
      },
    });

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
    const apollo = new ApolloServer<Context>({
      schema,
      csrfPrevention: true,
      // main.ts owns signal handling: it closes WebSockets, pools and Redis too.
      stopOnTerminationSignals: false,
      allowBatchedHttpRequests: false,
      validationRules: limits.validationRules,
      introspection: config.introspection,
      parseOptions: limits.parseOptions,
      // The formatter adds a stack (without the error's message) only under GRAPHQL_DEBUG_ERRORS.
      includeStacktraceInErrorResponses: false,
      formatError: format,
      plugins: [
        // graphql-armor is typed against Apollo's CommonJS build; the objects are the same.
        ...(limits.plugins as unknown as ApolloServerPlugin<Context>[]),
        authOperationsPlugin<Context>(format),
        metricsPlugin<Context>(metrics, (context) => context.caller !== null),
        requestLogPlugin(requestLog),
        outcomePlugin(services),
        ApolloServerPluginDrainHttpServer({ httpServer }),
        { serverWillStart: async () => ({ drainServer: () => ws.close() }) },
        ApolloServerPluginLandingPageDisabled(),
        // Nothing here is cacheable by HTTP caches (every answer depends on the caller), and the
        // default cache-control plugin wraps every field resolver to compute hints for it.
        ApolloServerPluginCacheControlDisabled(),
      ],
    });
    await apollo.start();
    step('apollo');
    flushLogs(logger);
    httpServer.removeAllListeners('request');
    httpServer.on(
      'request',
      createRequestListener(services, apollo, redis, requestLog, {
        metrics: metricsHandler(metrics.registry, config.metrics),
        oauth: (ipOf) =>
          oauthRouter({
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
          clearInterval(keyReload);
          await stopAuditPurge();
          await stopSessionCleanup();
          await stopUsageFlush();
          // What this instance counted since the last minute is written before it goes.
          await serviceAccounts.usage.flush().catch(() => {});
          await apollo.stop();
          await background.idle();
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
