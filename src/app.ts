import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { connectDatabase, type Database, LOCKS, runMigrations } from './db/client.js';
import type { Context, Services } from './graphql/context.js';
import { formatError } from './graphql/errors.js';
import { buildAppSchema } from './graphql/schema.js';
import { type Clock, systemClock } from './lib/clock.js';
import { createLogger, type Logger } from './lib/logger.js';
import { AccessTokens, SigningKeyStore } from './modules/keys/index.js';
import { PasswordHasher } from './modules/passwords/index.js';
import { SessionGuard } from './modules/sessions/session-guard.js';
import { bootstrapSystemTenant } from './modules/tenants/bootstrap.js';
import { createExpressApp } from './server/http.js';
import { connectRedis } from './server/redis.js';
import { createWebSocketServer } from './server/ws.js';

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /** An already-connected database (tests); otherwise one is opened from the config. */
  database?: Database;
  /** A server that is already listening (main starts one early so /health answers at once). */
  httpServer?: Server;
}

export interface App {
  services: Services;
  httpServer: Server;
  /** Starts listening; resolves to the base URL, e.g. http://127.0.0.1:8006. */
  listen(port?: number, host?: string): Promise<string>;
  /** The base URL of a listening server. */
  url(): string;
  /** Stops accepting, finishes in-flight requests, closes sockets and pools. */
  close(): Promise<void>;
}

/**
 * Builds the whole service: database (migrated, bootstrapped), keys, schema, HTTP and WebSocket
 * servers. Nothing listens until `listen` is called.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const database = options.database ?? (await connectDatabase(config.database));
  const ownsDatabase = !options.database;
  let redis: Redis | undefined;
  try {
    const hasher = new PasswordHasher({ cost: config.passwords.bcryptCost, pepper: config.passwords.pepper });
    // Instances starting together take turns: one migrates and bootstraps, the others then find it done.
    await database.withAdvisoryLock(LOCKS.startup, async (db) => {
      await runMigrations(database.kind, db);
      await bootstrapSystemTenant(db, { config, hasher, clock, logger });
    });
    const keys = await SigningKeyStore.open(database.db, {
      keyEncryptionKey: config.jwt.keyEncryptionKey,
      signingKeyJwk: config.jwt.signingKeyJwk,
      clock,
      maxAccessTokenTtlSeconds: config.jwt.accessTokenTtlSeconds,
      onReloadError: (error) => logger.warn({ err: error }, 'could not reload signing keys'),
    });
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
    const sessionGuard = new SessionGuard(database.db, clock, config.systemTenantSlug);
    if (config.redis.url) redis = connectRedis(config.redis.url, config.redis.keyPrefix, logger);
    const services: Services = {
      config,
      database,
      db: database.db,
      clock,
      logger,
      hasher,
      keys,
      tokens,
      sessionGuard,
    };

    const schema = await buildAppSchema();
    const httpServer = options.httpServer ?? createServer();
    const ws = createWebSocketServer(httpServer, schema, services);
    const apollo = new ApolloServer<Context>({
      schema,
      csrfPrevention: true,
      // main.ts owns signal handling: it closes WebSockets, pools and Redis too.
      stopOnTerminationSignals: false,
      allowBatchedHttpRequests: false,
      introspection: config.introspection,
      includeStacktraceInErrorResponses: !config.isProduction,
      formatError: (formatted, error) =>
        formatError(formatted, error, {
          maskUnexpected: config.isProduction,
          onUnexpected: (unexpected) => logger.error({ err: unexpected }, 'unexpected error while resolving'),
        }),
      plugins: [
        ApolloServerPluginDrainHttpServer({ httpServer }),
        { serverWillStart: async () => ({ drainServer: () => ws.close() }) },
        ApolloServerPluginLandingPageDisabled(),
      ],
    });
    await apollo.start();
    httpServer.removeAllListeners('request');
    httpServer.on('request', createExpressApp(services, apollo, redis));

    const url = () => {
      const address = httpServer.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
    };
    let closed: Promise<void> | undefined;
    return {
      services,
      httpServer,
      url,
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
          await apollo.stop();
          redis?.disconnect();
          if (ownsDatabase) await database.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    redis?.disconnect();
    if (ownsDatabase) await database.close().catch(() => {});
    throw error;
  }
}
