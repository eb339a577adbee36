import { afterAll, beforeAll } from 'vitest';
import { type App, createApp } from '../../src/app/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { createLogger } from '../../src/kernel/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { TEST_REDIS_URL } from './env.js';

export const SYSTEM_ADMIN = { email: 'root@system.test', password: 'correct horse battery staple 42' };

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> & { code?: string } }[];
}

export interface TestServer {
  url: string;
  app: App;
  config: Config;
  clock: ManualClock;
  testDatabase: TestDatabase;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export interface StartOptions {
  /**
   * Run over this existing database instead of a fresh one, e.g. to restart "the same
   * deployment" with another configuration. The caller keeps ownership: `close()` leaves it be.
   */
  database?: TestDatabase;
  /** Where the server writes its JSON log lines (set LOG_LEVEL too), e.g. to assert on them. */
  logStream?: { write(line: string): void };
}

/**
 * Starts the real server in this process on an ephemeral port, over its own fresh PostgreSQL
 * database and a Redis key prefix of its own. `env` overrides any configuration variable.
 */
export async function startTestServer(
  env: Record<string, string | undefined> = {},
  options: StartOptions = {},
): Promise<TestServer> {
  const ownsDatabase = options.database === undefined;
  const testDatabase = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: testDatabase.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `test:${testDatabase.name}:`,
    BCRYPT_COST: '4',
    // Tests sign in far more often than a person; the abuse tests set their own budget.
    RATE_LIMIT_AUTH_PER_MINUTE: '100000',
    LOG_LEVEL: 'silent',
    BOOTSTRAP_ADMIN_EMAIL: SYSTEM_ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: SYSTEM_ADMIN.password,
    ...env,
  });
  const clock = new ManualClock(Date.now());
  let app: App;
  try {
    app = await createApp(config, {
      clock,
      logger: createLogger(config.logLevel, options.logStream),
      database: testDatabase.database,
    });
  } catch (error) {
    if (ownsDatabase) await testDatabase.drop();
    throw error;
  }
  // Port 0 unless the test chose one (e.g. to name it in PUBLIC_URL, the tokens' issuer).
  const url = await app.listen(config.http.port, '127.0.0.1');
  return {
    url,
    app,
    config,
    clock,
    testDatabase,
    async gql(query, variables, options = {}) {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as Omit<GraphQLResponse, 'status' | 'headers'>;
      return { status: response.status, headers: response.headers, ...body } as never;
    },
    async close() {
      await app.close();
      if (ownsDatabase) await testDatabase.drop();
    },
  };
}

type Env = Record<string, string | undefined>;

/**
 * One server for the surrounding file or `describe`: started in a `beforeAll`, closed in an
 * `afterAll`, both registered here, where it is called (so a set-up `beforeAll` registered after it
 * sees a running server, and `afterAll`s registered after it run before it closes). The handle is
 * usable wherever a TestServer is, but only inside tests and hooks. `env` and `options` may be
 * functions, read when the server starts, for values an earlier hook makes (an SMTP server's URL).
 */
export function useTestServer(
  env: Env | (() => Env | Promise<Env>) = {},
  options: StartOptions | (() => StartOptions) = {},
): TestServer {
  let started: TestServer | undefined;
  const current = (): TestServer => {
    if (!started) throw new Error('useTestServer: the server runs only inside its tests and hooks');
    return started;
  };
  beforeAll(async () => {
    started = await startTestServer(
      typeof env === 'function' ? await env() : env,
      typeof options === 'function' ? options() : options,
    );
  });
  afterAll(async () => {
    await started?.close();
    started = undefined;
  });
  return {
    get url() {
      return current().url;
    },
    get app() {
      return current().app;
    },
    get config() {
      return current().config;
    },
    get clock() {
      return current().clock;
    },
    get testDatabase() {
      return current().testDatabase;
    },
    gql: (query, variables, gqlOptions) => current().gql(query, variables, gqlOptions),
    async close() {
      const server = current();
      started = undefined;
      await server.close();
    },
  };
}

/** The first error's contract code, or undefined. */
export function errorCode(response: GraphQLResponse<unknown>): string | undefined {
  return response.errors?.[0]?.extensions?.code;
}
