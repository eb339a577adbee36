import type { SessionRow } from '../../db/schema.js';
import { BadUserInputError } from '../../kernel/errors.js';

/**
 * Lists of sessions are bounded twice: a user holds at most MAX_SESSIONS_PER_USER active
 * sessions (config), and `User.sessions` answers at most `first` of them. The operation cost
 * model counts each list at that size (abuse/query-limits.ts), so an accepted operation's answer
 * is bounded by its cost.
 */
export const DEFAULT_SESSIONS_PAGE = 10;
export const MAX_SESSIONS_PAGE = 100;

export function sessionsPageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_SESSIONS_PAGE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_SESSIONS_PAGE) {
    throw BadUserInputError.field('first', `first must be between 1 and ${MAX_SESSIONS_PAGE}.`);
  }
  return first;
}

/** The newest `size` of a list ordered oldest first, still oldest first. */
export function newest(list: SessionRow[], size: number): SessionRow[] {
  return list.length <= size ? list : list.slice(list.length - size);
}
