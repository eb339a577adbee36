import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolStats } from '../../db/in-flight.js';
import { ERROR_CODES, isErrorCode } from '../../kernel/errors.js';
import type { LoginFailureReason } from '../auth/auth.service.js';

/** mfa_required: the password was right and a second factor was asked for (not yet a sign-in). */
export type LoginOutcome = 'succeeded' | 'mfa_required' | LoginFailureReason;

/**
 * What `identity_logins_total` shows: whether a sign-in succeeded, never why it failed. Why
 * (unknown account, wrong password, locked, suspended) is exactly what an attacker probing
 * accounts wants to learn, and a scrape is a cheap way to learn it; the reason stays in the audit
 * trail (`auth.login.failed`) and the log, which only operators read. `mfa_required` (a right
 * password, a second factor still to come) tells nothing the answer itself did not.
 */
export type PublicLoginOutcome = 'succeeded' | 'mfa_required' | 'failed';

/**
 * What services report as they work. They receive it in `Deps` (never a global), so each app
 * instance counts into its own registry and a test can pass its own recorder.
 */
export interface ServiceMetrics {
  loginAttempt(outcome: LoginOutcome): void;
  /** A refresh token was presented a second time (the session has been ended for it). */
  refreshTokenReuse(): void;
}

/** Read at scrape time; set once the app has built them. */
export interface MetricSources {
  pool?: () => PoolStats;
  /** Open WebSocket connections. */
  webSockets?: () => number;
  /** Undefined when Redis is not configured (the gauge is then left out). */
  redisReady?: () => boolean;
  /** SQL statements sent since the start. */
  statements?: () => number;
}

const LOGIN_OUTCOMES: PublicLoginOutcome[] = ['succeeded', 'mfa_required', 'failed'];

/** The `code` label: one of the contract's error codes (anything else is INTERNAL_SERVER_ERROR). */
export function errorCodeLabel(code: unknown): string {
  return isErrorCode(code) ? code : 'INTERNAL_SERVER_ERROR';
}

/** One Prometheus registry per app instance, with the service's metrics and Node's defaults. */
export class AppMetrics implements ServiceMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'operation' | 'outcome'>;
  readonly graphqlErrors: Counter<'code'>;
  readonly logins: Counter<'outcome'>;
  readonly refreshReuse: Counter;
  readonly hashDuration: Histogram<'op'>;
  #sources: MetricSources = {};

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requestDuration = new Histogram({
      name: 'identity_graphql_request_duration_seconds',
      help: 'GraphQL requests over HTTP by operation name and outcome ("ok" or the first error code).',
      labelNames: ['operation', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.graphqlErrors = new Counter({
      name: 'identity_graphql_errors_total',
      help: 'Errors sent in GraphQL responses over HTTP, by contract error code.',
      labelNames: ['code'],
      registers,
    });
    this.logins = new Counter({
      name: 'identity_logins_total',
      help: 'Sign-in attempts by outcome: succeeded or failed (never why: that is in the audit trail).',
      labelNames: ['outcome'],
      registers,
    });
    this.refreshReuse = new Counter({
      name: 'identity_refresh_token_reuse_total',
      help: 'Refresh tokens presented again after use (each ends its session).',
      registers,
    });
    this.hashDuration = new Histogram({
      name: 'identity_password_hash_duration_seconds',
      help: 'Time spent in bcrypt per password hash or verify (not counting the wait for a slot).',
      labelNames: ['op'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
      registers,
    });
    // Zero series exist from the start, so rates and alerts work before the first event.
    for (const outcome of LOGIN_OUTCOMES) this.logins.labels(outcome).inc(0);
    for (const code of ERROR_CODES) this.graphqlErrors.labels(code).inc(0);

    const sources = () => this.#sources;
    new Gauge({
      name: 'identity_websocket_connections',
      help: 'Open GraphQL WebSocket connections.',
      registers,
      collect() {
        this.set(sources().webSockets?.() ?? 0);
      },
    });
    const pool = (pick: keyof PoolStats) =>
      function (this: Gauge) {
        const stats = sources().pool?.();
        this.set(stats ? stats[pick] : 0);
      };
    new Gauge({
      name: 'identity_db_pool_in_use',
      help: 'Database connections busy with a query or transaction (PGlite: its single connection).',
      registers,
      collect: pool('inUse'),
    });
    new Gauge({
      name: 'identity_db_pool_waiting',
      help: 'Database queries and transactions waiting for a connection (beyond the pool size).',
      registers,
      collect: pool('waiting'),
    });
    new Gauge({
      name: 'identity_db_pool_max',
      help: 'Database connections the pool may open.',
      registers,
      collect: pool('max'),
    });
    new Counter({
      name: 'identity_db_statements_total',
      help: 'SQL statements sent to the database (divided by requests: statements per operation).',
      registers,
      collect() {
        this.reset();
        this.inc(sources().statements?.() ?? 0);
      },
    });
  }

  /** Connects the gauges to what they read. */
  watch(sources: MetricSources): void {
    this.#sources = { ...this.#sources, ...sources };
    if (sources.redisReady && !this.registry.getSingleMetric('identity_redis_up')) {
      const ready = sources.redisReady;
      new Gauge({
        name: 'identity_redis_up',
        help: '1 while the Redis connection is ready, 0 otherwise.',
        registers: [this.registry],
        collect() {
          this.set(ready() ? 1 : 0);
        },
      });
    }
  }

  loginAttempt(outcome: LoginOutcome): void {
    this.logins.labels(outcome === 'succeeded' || outcome === 'mfa_required' ? outcome : 'failed').inc();
  }

  refreshTokenReuse(): void {
    this.refreshReuse.inc();
  }

  /** For PasswordHasher's `onHashDuration`. */
  readonly observeHash = (seconds: number, op: 'hash' | 'verify'): void => {
    this.hashDuration.labels(op).observe(seconds);
  };
}
