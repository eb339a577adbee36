import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import { BackgroundWork } from '../kernel/background.js';
import type { Clock } from '../kernel/clock.js';
import type { Deps } from '../kernel/deps.js';
import type { Logger } from '../kernel/logger.js';
import { createEmailBudget } from '../modules/abuse/email-budget.js';
import { createAuthRateLimiter } from '../modules/abuse/rate-limits.js';
import { Mailer } from '../modules/email/email.service.js';
import type { EmailTemplates } from '../modules/email/email.templates.js';
import { createEmailTransport } from '../modules/email/email.transport.js';
import { OutboxWorker } from '../modules/email/outbox.worker.js';
import { AccessTokens, SigningKeyStore } from '../modules/keys/index.js';
import type { AppMetrics } from '../modules/metrics/index.js';
import { CeremonyStore } from '../modules/mfa/ceremony-store.js';
import { TotpSecretBox } from '../modules/mfa/secret-box.js';
import type { PasswordHasher } from '../modules/passwords/index.js';
import { createServiceAccountsRuntime } from '../modules/service-accounts/runtime.js';
import { SessionGuard } from '../modules/sessions/session-guard.js';
import { createCommitEffects } from './commit-effects.js';
import { openSharedState, type SharedState, sharedStateReady } from './shared-state.js';

/** What is built before the dependencies and handed to them. */
export interface DepsInputs {
  config: Config;
  database: Database;
  clock: Clock;
  logger: Logger;
  metrics: AppMetrics;
  hasher: PasswordHasher;
  templates: EmailTemplates;
}

/** The app's dependencies, and what of them must be stopped when it closes. */
export interface BuiltDeps {
  deps: Deps;
  shared: SharedState;
  outbox: OutboxWorker;
  /** Stops what buildDeps started (the signing keys' reload timer). */
  stop(): void;
}

/**
 * Builds every long-lived dependency of one app instance, in order: signing keys, Redis-backed
 * state (cache, invalidations, events), the session guard and rate limits, service accounts'
 * runtime, email. `onShared` hears of the shared state as soon as it is open, so that a failure
 * after it still closes it.
 */
export async function buildDeps(
  inputs: DepsInputs,
  step: (name: string) => void,
  onOpened: (opened: { shared?: SharedState; outbox?: OutboxWorker }) => void,
): Promise<BuiltDeps> {
  const { config, database, clock, logger, metrics, hasher, templates } = inputs;
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
  const { db } = database;
  // Cache, invalidations and subscription events, shared by every instance through Redis.
  const shared = openSharedState(config, db, clock, logger);
  onOpened({ shared });
  if (!(await sharedStateReady(shared))) {
    logger.warn('Redis is not reachable: starting without it (reading through to PostgreSQL) until it is');
  }
  const { redis, cache, events } = shared;
  const commitEffects = createCommitEffects({ cache, events, clock, logger });
  const sessionGuard = new SessionGuard(cache, clock, config.systemTenantSlug);
  const authRateLimiter = createAuthRateLimiter({
    pointsPerMinute: config.rateLimit.authPerMinute,
    redis,
    logger,
  });
  const serviceAccounts = createServiceAccountsRuntime({
    db,
    commitEffects,
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
  const outbox = new OutboxWorker({ db, commitEffects, clock, logger, transport, config: config.email });
  onOpened({ shared, outbox });
  const background = new BackgroundWork(logger);
  const deps: Deps = {
    config,
    database,
    db,
    readDb: database.readDb,
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
    commitEffects,
  };
  return { deps, shared, outbox, stop: () => clearInterval(keyReload) };
}
