import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';
import type * as PinoPretty from 'pino-pretty';

export type { Logger };

/** `json`: one JSON object a line, for machines (production). `pretty`: coloured lines for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * Structured JSON logs (or the same lines made readable, see LogFormat). Anything that could carry a credential is redacted by path, wherever
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
  'variables.input.token',
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

export interface LoggerOptions {
  format?: LogFormat;
  /** Colours in pretty lines (when they go to a terminal). */
  colors?: boolean;
}

export function createLogger(
  level: string,
  destination: pino.DestinationStream = stdoutBuffer(),
  options: LoggerOptions = {},
): Logger {
  const stream =
    options.format === 'pretty' ? prettyLines(destination, options.colors ?? false) : destination;
  return pino({ ...baseOptions(level), redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
}

// pino-pretty is read from node_modules (not bundled) and only when pretty lines are asked for.
const require = createRequire(import.meta.url);

/**
 * Each JSON line turned into a human one, in this thread and into the same destination: the
 * buffered, chunked writes stay, and flushLogs still reaches them (a pino transport would move the
 * formatting to a worker that flushLogs cannot flush).
 */
function prettyLines(destination: pino.DestinationStream, colors: boolean): pino.DestinationStream {
  const { prettyFactory } = require('pino-pretty') as typeof PinoPretty;
  const prettify = prettyFactory({
    colorize: colors,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    singleLine: false,
  });
  const flushable = destination as pino.DestinationStream & { flushSync?: () => void };
  return {
    write: (line: string) => flushable.write(prettify(line)),
    flushSync: () => flushable.flushSync?.(),
  } as pino.DestinationStream;
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
