import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { foreignKeyViolated, isDatabaseUnavailable } from '../db/errors.js';

/**
 * The contract's error codes: the only values `extensions.code` ever takes (anything else that
 * reaches a client is an INTERNAL_SERVER_ERROR with a masked message). The one list: the error
 * formatter and the metrics' `code` label are derived from it.
 */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'QUERY_REJECTED',
  'MFA_REQUIRED',
  'MFA_ENROLLMENT_REQUIRED',
  'EMAIL_NOT_VERIFIED',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const CONTRACT_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** `code` is one of the contract's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && CONTRACT_CODES.has(code);
}

/* The only error classes the service throws on purpose. */

export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
    this.code = code;
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication required: the token is missing, invalid, expired or revoked.') {
    super('UNAUTHENTICATED', message);
  }
}

/** The one answer for every failed sign-in, whatever the reason, so nothing can be enumerated. */
export class InvalidCredentialsError extends UnauthenticatedError {
  constructor() {
    super('Invalid email or password.');
  }
}

/**
 * The password was right, but the tenant requires a verified email before sign-in. Only ever
 * answered after a correct password, so it tells nothing to someone guessing.
 */
export class EmailNotVerifiedError extends AppError {
  constructor() {
    super(
      'EMAIL_NOT_VERIFIED',
      'Verify your email address before signing in: follow the link in the verification email we sent you.',
    );
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You are not allowed to do this.') {
    super('FORBIDDEN', message);
  }
}

export class BadUserInputError extends AppError {
  readonly fields: FieldError[];

  constructor(fields: FieldError[], message?: string) {
    super('BAD_USER_INPUT', message ?? fields.map((f) => `${f.field}: ${f.message}`).join(' '), { fields });
    this.fields = fields;
  }

  static field(field: string, message: string): BadUserInputError {
    return new BadUserInputError([{ field, message }]);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found.`);
  }
}

export class ConflictError extends AppError {
  constructor(field: string, message: string) {
    super('CONFLICT', message, { fields: [{ field, message }] });
  }
}

export class RateLimitedError extends AppError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super('RATE_LIMITED', `Too many requests. Try again in ${seconds} seconds.`, {
      retryAfterSeconds: seconds,
    });
    this.retryAfterSeconds = seconds;
  }
}

export class QueryRejectedError extends AppError {
  constructor(message = 'The operation was rejected: it exceeds the server limits.') {
    super('QUERY_REJECTED', message);
  }
}

/**
 * The password was right and a second factor is needed: `mfaToken` continues this sign-in with
 * completeMfaLogin (or startPasskeyAuthentication); `methods` are the factors the user has.
 */
export class MfaRequiredError extends AppError {
  constructor(mfaToken: string, methods: readonly string[]) {
    super('MFA_REQUIRED', 'A second factor is required to finish signing in.', {
      mfaToken,
      methods: [...methods],
    });
  }
}

/** The tenant requires a second factor for the caller's role and the caller has none yet. */
export class MfaEnrollmentRequiredError extends AppError {
  constructor() {
    super(
      'MFA_ENROLLMENT_REQUIRED',
      'Set up a second factor (an authenticator app or a passkey) before doing anything else.',
    );
  }
}

/**
 * A dependency the request needs (PostgreSQL) is not available right now. The contract has no
 * code of its own for it: INTERNAL_SERVER_ERROR with a message that says to try again, and never
 * the driver's message or a stack. Over HTTP, before GraphQL runs, it is a 503 with Retry-After.
 */
export class ServiceUnavailableError extends AppError {
  constructor() {
    super('INTERNAL_SERVER_ERROR', 'The service is temporarily unavailable. Try again shortly.');
  }
}

/** Throws `error` unless `condition` holds; narrows the type like an assertion. */
export function assertThat(condition: unknown, error: AppError | (() => AppError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

/** What every operation refused by the query limits is told; the limits are not disclosed. */
export const QUERY_REJECTED_MESSAGE = 'The operation was rejected: it is too large, too deep or too complex.';

/** Apollo's own codes for requests that never reached a resolver. */
const REQUEST_ERROR_CODES: Record<string, ErrorCode> = {
  GRAPHQL_PARSE_FAILED: 'BAD_USER_INPUT',
  GRAPHQL_VALIDATION_FAILED: 'BAD_USER_INPUT',
  BAD_REQUEST: 'BAD_USER_INPUT',
  PERSISTED_QUERY_NOT_FOUND: 'BAD_USER_INPUT',
  PERSISTED_QUERY_NOT_SUPPORTED: 'BAD_USER_INPUT',
  OPERATION_RESOLUTION_FAILURE: 'BAD_USER_INPUT',
};

export interface FormatOptions {
  /**
   * GRAPHQL_DEBUG_ERRORS: an unexpected error's answer keeps its message, with the failed SQL
   * statement's text but never its bound values, and a stack trace. Otherwise (always in
   * production) it is masked: "Internal server error.", and the details go to the log only.
   */
  debug: boolean;
  /** Production: no "Did you mean …?" of any kind (fields, arguments, types, enum values). */
  hideSuggestions: boolean;
  onUnexpected?: (error: unknown) => void;
}

/**
 * Maps any error to the contract's shape. Known errors keep their code and message; request
 * errors (parse, validation, variable coercion) become BAD_USER_INPUT; the rest is masked.
 */
export function formatError(
  formatted: GraphQLFormattedError,
  error: unknown,
  options: FormatOptions,
): GraphQLFormattedError {
  const answer = formatOne(formatted, error, options);
  return options.hideSuggestions ? withoutSuggestions(answer) : answer;
}

function formatOne(
  formatted: GraphQLFormattedError,
  error: unknown,
  options: FormatOptions,
): GraphQLFormattedError {
  const original = unwrap(error);
  if (original instanceof AppError) {
    const { http: _http, ...extensions } = original.extensions;
    return { message: original.message, locations: formatted.locations, path: formatted.path, extensions };
  }
  if (isDatabaseUnavailable(original ?? error)) {
    options.onUnexpected?.(original ?? error);
    const unavailable = new ServiceUnavailableError();
    return { message: unavailable.message, path: formatted.path, extensions: { code: unavailable.code } };
  }
  const vanished = foreignKeyViolated(original ?? error);
  if (vanished) {
    // What a write refers to was deleted between the service's check and its statement (a user
    // created while their tenant is deleted): the same answer as had it been gone before.
    const gone = new NotFoundError(vanishedThing(vanished.constraint));
    return { message: gone.message, path: formatted.path, extensions: { code: gone.code } };
  }
  // Over the WebSocket, graphql-js's variable coercion errors arrive without Apollo's code.
  const code = String(formatted.extensions?.code ?? (isVariableError(formatted) ? 'BAD_USER_INPUT' : ''));
  if (isQueryRejection(formatted.message)) {
    return { message: QUERY_REJECTED_MESSAGE, extensions: { code: 'QUERY_REJECTED' } };
  }
  const variable = code === 'BAD_USER_INPUT' ? invalidVariable(formatted.message, error) : undefined;
  if (variable) {
    return {
      message: variable.message,
      locations: formatted.locations,
      extensions: { code, fields: variable.fields },
    };
  }
  if (REQUEST_ERROR_CODES[code]) {
    return {
      message: withoutHiddenSuggestion(formatted.message),
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: REQUEST_ERROR_CODES[code] },
    };
  }
  if (isErrorCode(code) && code !== 'INTERNAL_SERVER_ERROR') {
    const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions: { ...extensions, code } };
  }
  options.onUnexpected?.(original ?? error);
  if (!options.debug) {
    return {
      message: 'Internal server error.',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  }
  const failure = original ?? error;
  return {
    message: debugMessage(failure, formatted.message),
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: stackFrames(failure) },
  };
}

/**
 * What GRAPHQL_DEBUG_ERRORS shows of an unexpected error. Drizzle's message is "Failed query:
 * <statement>\nparams: <values>": the statement stays, the values (a password hash, an email)
 * never leave the process. PostgreSQL's own message may quote a value too ('invalid input
 * syntax for type uuid: "…"'), so of it only the SQLSTATE and the constraint are named.
 */
function debugMessage(error: unknown, fallback: string): string {
  const message = error instanceof Error ? error.message : fallback;
  const statement = /^Failed query: ([\s\S]*?)\nparams: /.exec(message)?.[1];
  if (statement === undefined) return message;
  const cause = (error as { cause?: { code?: unknown; constraint?: unknown; constraint_name?: unknown } })
    .cause;
  const constraint = cause?.constraint_name ?? cause?.constraint;
  const details = [
    typeof cause?.code === 'string' ? `SQLSTATE ${cause.code}` : undefined,
    typeof constraint === 'string' ? `constraint ${constraint}` : undefined,
  ].filter(Boolean);
  return `Failed query: ${statement}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

/** The "at …" lines of a stack: its first lines repeat the message, which may hold values. */
function stackFrames(error: unknown): string[] {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  return stack
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at '));
}

/**
 * graphql-js appends " Did you mean …?" to a misspelt field, argument, type or enum value:
 * suggestions tell the schema to whoever guesses, so production drops every one of them, over
 * HTTP and WebSocket alike (this is the one formatter of both).
 */
function withoutSuggestions(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const strip = (text: string) => withoutHiddenSuggestion(text.replace(/ ?Did you mean [\s\S]*$/, ''));
  const fields = formatted.extensions?.fields;
  const message = strip(formatted.message);
  if (message === formatted.message && !Array.isArray(fields)) return formatted;
  return {
    ...formatted,
    message,
    ...(Array.isArray(fields)
      ? {
          extensions: {
            ...formatted.extensions,
            fields: (fields as FieldError[]).map((f) =>
              typeof f?.message === 'string' ? { ...f, message: strip(f.message) } : f,
            ),
          },
        }
      : {}),
  };
}

/**
 * graphql-armor prefixes its refusals with "Syntax Error: "; graphql-js's own token limit (the
 * parser's maxTokens) names the limit, which is not to be disclosed either; and graphql-js gives
 * up validating a document that needs too much work ("Validation aborted.", e.g. thousands of
 * fields that must be compared pairwise).
 */
function isQueryRejection(message: string): boolean {
  return (
    message.replace(/^Syntax Error: /, '') === QUERY_REJECTED_MESSAGE ||
    message === 'Validation aborted.' ||
    /^Syntax Error: Document contains more th(?:at|an) \d+ tokens\. Parsing aborted\.$/.test(message)
  );
}

/** What a foreign key's name says its row referred to (constraint names: drizzle/*.sql). */
function vanishedThing(constraint: string): string {
  if (/tenants_id_fk|(^|_)tenant_fk/.test(constraint)) return 'Tenant';
  if (/users_id_fk|_user_fk(ey)?$/.test(constraint)) return 'User';
  if (/account_fk/.test(constraint)) return 'Service account';
  if (/session/.test(constraint)) return 'Session';
  return 'Record';
}

/** graphql-js's refusals of an operation's variables, before anything is executed. */
function isVariableError(formatted: GraphQLFormattedError): boolean {
  return (
    formatted.path === undefined &&
    /^Variable "\$\w+" (?:got invalid value |of required type |of non-null type )/.test(formatted.message)
  );
}

/** What graphql-armor leaves of a "Did you mean …?" hint when suggestions are hidden. */
function withoutHiddenSuggestion(message: string): string {
  return message.replace(/ ?\[Suggestion hidden\]\??/g, '');
}

/** Reasons that name fields and types only, never the submitted value. */
const SAFE_VARIABLE_REASONS = [
  /^Field "[^"]*" of required type "[^"]*" was not provided\.$/,
  /^Field "[^"]*" is not defined by type "[^"]*"\./,
  /^Expected type "[^"]*" to be an object\.$/,
];

/**
 * graphql-js answers a variable that does not fit its type with `Variable "$input" got invalid
 * value <the value> at "input.password"; <reason>`: the submitted value (a password, a token, or
 * the whole input object when a field is missing) would be echoed back. Keeps the variable, the
 * path and a reason that names no value.
 */
function invalidVariable(
  message: string,
  error: unknown,
): { message: string; fields: FieldError[] } | undefined {
  const head = /^Variable "\$(\w+)" got invalid value /.exec(message);
  if (!head) return undefined;
  let reason: string | undefined;
  for (let current = error, i = 0; current && i < 5; i++) {
    const inner = (current as { message?: unknown }).message;
    if (typeof inner === 'string' && inner !== message && message.endsWith(`; ${inner}`)) {
      reason = inner;
      break;
    }
    current = (current as { originalError?: unknown }).originalError;
  }
  const prefix = reason === undefined ? message : message.slice(0, message.length - reason.length - 2);
  const at = /at "(\w+(?:\.\w+|\[\d+\])*)"$/.exec(prefix)?.[1];
  const field = at ?? head[1] ?? 'input';
  const why =
    reason !== undefined && SAFE_VARIABLE_REASONS.some((safe) => safe.test(reason))
      ? withoutHiddenSuggestion(reason)
      : 'The value does not have the expected type.';
  return {
    message: `Variable "$${head[1]}" got an invalid value at "${field}": ${why}`,
    fields: [{ field, message: why }],
  };
}

function unwrap(error: unknown): unknown {
  let current = error;
  for (let i = 0; i < 5; i++) {
    if (current instanceof AppError) return current;
    const next = (current as { originalError?: unknown } | undefined)?.originalError;
    if (!next) return current;
    current = next;
  }
  return current;
}
