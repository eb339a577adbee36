/** Recognises PostgreSQL errors through Drizzle's wrapper, on postgres.js and PGlite alike. */
function pgError(
  error: unknown,
): { code?: string; constraint?: string; constraint_name?: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const candidate = current as { code?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) return candidate as never;
    current = candidate.cause;
  }
  return undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pg = pgError(error);
  if (pg?.code !== '23505') return false;
  return constraint === undefined || (pg.constraint_name ?? pg.constraint) === constraint;
}

export function isForeignKeyViolation(error: unknown): boolean {
  return pgError(error)?.code === '23503';
}

/** The constraint a foreign-key violation broke (undefined for any other error). */
export function foreignKeyViolated(error: unknown): { constraint: string } | undefined {
  const pg = pgError(error);
  if (pg?.code !== '23503') return undefined;
  return { constraint: String(pg.constraint_name ?? pg.constraint ?? '') };
}

/** postgres.js' and Node's codes for a database it cannot reach or lost mid-query. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * Whether `error` means "the database is not available right now" (refused, restarting, shut
 * down, connection lost) rather than anything about the request: those are answered as a
 * temporary failure, never with the driver's message or a stack. PostgreSQL classes 08
 * (connection exception) and 57P (operator intervention: shutdown, restart).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current; depth++) {
    const candidate = current as {
      code?: unknown;
      cause?: unknown;
      originalError?: unknown;
      errors?: unknown;
    };
    const code = candidate.code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || /^(08...|57P0[1-3])$/.test(code)))
      return true;
    // Node reports a refused connection to every address of a host as an AggregateError.
    if (Array.isArray(candidate.errors) && candidate.errors.some((inner) => isDatabaseUnavailable(inner)))
      return true;
    current = candidate.cause ?? candidate.originalError;
  }
  return false;
}
