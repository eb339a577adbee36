import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * The contract's error codes, and the only error classes the service throws on purpose.
 * Anything else that reaches a client is an INTERNAL_SERVER_ERROR with a masked message.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'QUERY_REJECTED'
  | 'INTERNAL_SERVER_ERROR';

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

/** Throws `error` unless `condition` holds; narrows the type like an assertion. */
export function assertThat(condition: unknown, error: AppError | (() => AppError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

const CONTRACT_CODES = new Set<string>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'QUERY_REJECTED',
  'INTERNAL_SERVER_ERROR',
]);

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
  /** Production hides unexpected errors' messages and every stack trace. */
  maskUnexpected: boolean;
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
  const original = unwrap(error);
  if (original instanceof AppError) {
    const { http: _http, ...extensions } = original.extensions;
    return { message: original.message, locations: formatted.locations, path: formatted.path, extensions };
  }
  const code = String(formatted.extensions?.code ?? '');
  if (REQUEST_ERROR_CODES[code]) {
    return {
      message: formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: REQUEST_ERROR_CODES[code] },
    };
  }
  if (isArgumentValidationError(original)) {
    const fields = validationFields(original);
    return {
      message: fields.map((f) => `${f.field}: ${f.message}`).join(' ') || 'Invalid input.',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'BAD_USER_INPUT', fields },
    };
  }
  if (CONTRACT_CODES.has(code) && code !== 'INTERNAL_SERVER_ERROR') {
    const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions: { ...extensions, code } };
  }
  options.onUnexpected?.(original ?? error);
  if (options.maskUnexpected) {
    return {
      message: 'Internal server error.',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  }
  return { ...formatted, extensions: { ...formatted.extensions, code: 'INTERNAL_SERVER_ERROR' } };
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

interface ValidationErrorLike {
  property: string;
  constraints?: Record<string, string>;
  children?: ValidationErrorLike[];
}

function isArgumentValidationError(error: unknown): error is { validationErrors: ValidationErrorLike[] } {
  return (
    typeof error === 'object' &&
    error !== null &&
    Array.isArray((error as { validationErrors?: unknown }).validationErrors)
  );
}

/** Flattens class-validator's tree into the contract's `fields`, never including the value. */
function validationFields(error: { validationErrors: ValidationErrorLike[] }): FieldError[] {
  const out: FieldError[] = [];
  const walk = (nodes: ValidationErrorLike[], prefix: string) => {
    for (const node of nodes) {
      const field = prefix ? `${prefix}.${node.property}` : node.property;
      for (const message of Object.values(node.constraints ?? {})) out.push({ field, message });
      if (node.children?.length) walk(node.children, field);
    }
  };
  walk(error.validationErrors, '');
  return out;
}
