import type { Config } from '../config.js';
import type { Database, Db } from '../db/client.js';
import type { BackgroundWork } from './background.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { CommitEffects } from './unit-of-work.js';

/**
 * Long-lived dependencies, built once at start-up by the composition root (`src/app/deps.ts`)
 * and shared by every request.
 *
 * The kernel names only what it owns. Each feature adds what it provides by declaration merging
 * in its own `index.ts` (`declare module '../../kernel/deps.js' { interface Deps { cache:
 * IdentityCache } }`): the kernel imports no feature, a service still names its needs as
 * `Pick<Deps, 'db' | 'cache'>`, and the composition root fails to compile if it leaves a member
 * out.
 */
export interface Deps {
  config: Config;
  database: Database;
  db: Db;
  /**
   * Where lag-tolerant admin reads go (tenant statistics, audit, user and tenant lists): the read
   * replica of DATABASE_READ_URL, or `db`. Never for anything that decides access (session
   * checks, cache refills, password checks, spent tokens) nor inside a write.
   */
  readDb: Db;
  clock: Clock;
  logger: Logger;
  /** What a write does once committed (see unit-of-work.ts): provided by the composition root. */
  commitEffects: CommitEffects;
  /** Work started by a request but not awaited by its answer; awaited at shutdown. */
  background: BackgroundWork;
}

export type { RequestOrigin } from './request-origin.js';
