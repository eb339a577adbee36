import type { Deps } from '../kernel/deps.js';
import { startPeriodicJob } from '../kernel/periodic.js';
import { purgeAuditEvents } from '../modules/audit/retention.js';
import { purgeLoginChallenges } from '../modules/mfa/mfa.queries.js';
import { purgeRevokedTokens } from '../modules/service-accounts/service-accounts.queries.js';
import { cleanUpSessions } from '../modules/sessions/session-cleanup.js';

/**
 * The periodic work of one instance: usage counts, audit retention, session and challenge
 * clean-up. Each is safe on every instance at once. Resolves the returned function's promise when
 * all have stopped.
 */
export function startBackgroundJobs(deps: Deps): () => Promise<void> {
  const { config, database, clock, logger, serviceAccounts } = deps;
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

  return async () => {
    await stopAuditPurge();
    await stopSessionCleanup();
    await stopUsageFlush();
  };
}
