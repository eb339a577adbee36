import type { Db } from '../../db/client.js';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import type { CommitEffects } from '../../kernel/unit-of-work.js';
import type { IdentityCache } from '../cache/identity-cache.js';
import type { AccessTokens } from '../keys/index.js';
import { CredentialCache } from './credential-cache.js';
import { CredentialHasher } from './credentials.js';
import { ServiceAuthenticator } from './service-auth.js';
import { UsageRecorder } from './usage.js';

/** The long-lived parts of service accounts, built once per app (see Deps.serviceAccounts). */
export interface ServiceAccountsRuntime {
  credentials: CredentialCache;
  hasher: CredentialHasher;
  auth: ServiceAuthenticator;
  usage: UsageRecorder;
}

export function createServiceAccountsRuntime(options: {
  db: Db;
  /** The usage counts are written through units of work (their audit events are announced). */
  commitEffects: CommitEffects;
  clock: Clock;
  logger: Logger;
  cache: IdentityCache;
  tokens: AccessTokens;
  pepper: string | undefined;
  systemTenantSlug: string;
}): ServiceAccountsRuntime {
  const credentials = new CredentialCache(options.db, options.clock, options.cache);
  const hasher = new CredentialHasher(options.pepper);
  const usage = new UsageRecorder(options, options.clock, options.logger);
  const auth = new ServiceAuthenticator({
    credentials,
    identity: options.cache,
    hasher,
    tokens: options.tokens,
    clock: options.clock,
    usage,
    systemTenantSlug: options.systemTenantSlug,
  });
  return { credentials, hasher, auth, usage };
}
