import type { Deps } from '../kernel/deps.js';
import type { CommitEffects } from '../kernel/unit-of-work.js';
import { insertAuditEvent } from '../modules/audit/audit.queries.js';
import { publishCommitted } from '../modules/realtime/changes.js';

/**
 * What every unit of work (src/kernel/unit-of-work.ts) does besides its own statements: the audit
 * row goes into its transaction (the audit feature's statement); once committed, caches are
 * invalidated on every instance and subscribers told (the realtime feature). The kernel names the
 * two steps; this is the one place that says who performs them.
 */
export function createCommitEffects(
  deps: Pick<Deps, 'cache' | 'events' | 'clock' | 'logger'>,
): CommitEffects {
  return {
    insertAudit: insertAuditEvent,
    publish: (changes) => publishCommitted(deps, changes),
  };
}
