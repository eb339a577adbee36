import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Anything that could carry a credential is redacted by path, wherever
 * it appears in a log object, so a careless `log.info({ input })` cannot leak a password.
 */
export const REDACTED_PATHS = [
  'password',
  'newPassword',
  'currentPassword',
  'adminPassword',
  'refreshToken',
  'accessToken',
  'token',
  'authorization',
  'passwordHash',
  'privateKey',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.adminPassword',
  '*.refreshToken',
  '*.accessToken',
  '*.token',
  '*.authorization',
  '*.passwordHash',
  '*.privateKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'variables.input.password',
  'variables.input.newPassword',
  'variables.input.currentPassword',
  'variables.input.adminPassword',
  'variables.input.refreshToken',
];

/**
 * Errors are logged without the values a failed query was sent: drizzle's DrizzleQueryError puts
 * them in its message and `params` (a password hash, a refresh-token hash…), and PostgreSQL's
 * `detail` can spell out a whole failing row. The SQL text, the cause and the stack stay.
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return pino.stdSerializers.err(error as Error);
  let target: Error = error;
  const query = (error as { query?: unknown }).query;
  if ('params' in error && typeof query === 'string') {
    const safe = new Error(`Failed query: ${query}`, { cause: error.cause });
    safe.name = error.name;
    const stack = error.stack ?? '';
    const frames = stack.indexOf('\n    at ', stack.indexOf('\nparams: '));
    safe.stack = `${error.name}: ${safe.message}${frames >= 0 ? stack.slice(frames) : ''}`;
    Object.defineProperty(safe, 'constructor', { value: error.constructor });
    target = safe;
  }
  const serialized = pino.stdSerializers.err(target) as unknown as Record<string, unknown>;
  for (const key of ['params', 'parameters', 'detail']) {
    if (serialized[key] !== undefined) serialized[key] = '[redacted]';
  }
  return serialized;
}

export function createLogger(level: string, destination: pino.DestinationStream = stdoutBuffer()): Logger {
  return pino(
    { ...baseOptions(level), redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    destination,
  );
}

/** How long a line may wait in the buffer when the service is quiet. */
const FLUSH_INTERVAL_MS = 200;

/**
 * stdout through a buffer written in chunks of 8 kB, and at least every FLUSH_INTERVAL_MS: a write
 * per line (one per request, for the access log) cost as much as a whole token check. pino writes
 * out what is buffered when the process exits, crash included.
 */
function stdoutBuffer(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 8192 });
  setInterval(() => destination.flush(), FLUSH_INTERVAL_MS).unref();
  return destination;
}

/**
 * Writes out what is buffered, before returning: start-up lines (the first administrator's
 * generated password among them) are out before the service answers its first request.
 */
export function flushLogs(logger: Logger): void {
  const destination = (logger as unknown as Record<symbol, { flushSync?: () => void }>)[
    pino.symbols.streamSym
  ];
  try {
    destination?.flushSync?.();
  } catch {
    // Not yet open (the first write opens it) or closed: nothing to flush.
  }
}

function baseOptions(level: string): pino.LoggerOptions {
  return {
    level,
    base: { service: 'identity-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError },
    formatters: { level: (label) => ({ level: label }) },
  };
}

/**
 * The same output as `logger` without its redaction, for lines whose fields are all fixed by the
 * code that writes them (the access log: ids, status, timings). Redaction copies every object it
 * checks, and on one line per request that cost as much as writing the line.
 */
export function withoutRedaction(logger: Logger): Logger {
  const destination = (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
  return pino(baseOptions(logger.level), destination);
}
