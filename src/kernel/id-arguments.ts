import {
  type GraphQLArgument,
  type GraphQLFieldResolver,
  type GraphQLInputType,
  type GraphQLSchema,
  isInputObjectType,
  isIntrospectionType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { BadUserInputError } from './errors.js';
import { normalizeId } from './ids.js';

/** Puts one argument value in its canonical form, or throws BAD_USER_INPUT naming `path`. */
type Normalize = (value: unknown, path: string) => unknown;

/**
 * The boundary every argument crosses, over HTTP and WebSocket alike, before the permission
 * rule and the resolver see it; wraps the resolvers in place (call it on the finished schema,
 * outside the permission layer). Also inside input objects and lists:
 * - Ids arrive as text in any case; PostgreSQL matches a UUID whatever its case, but everything
 *   that compares or keys by id (permission rules, cache keys, invalidations, event channels)
 *   must see one spelling: every `ID` is put in its canonical form (`normalizeId`: lower-case).
 * - Text that PostgreSQL cannot store is refused (BAD_USER_INPUT, `extensions.fields` naming
 *   the argument): a NUL character, and a lone UTF-16 surrogate (`"\ud800"` in JSON), which the
 *   driver would otherwise silently store as U+FFFD. Applies to String and ID.
 * - A DateTimeISO outside the years 1–9999 (PostgreSQL has no year 0) is refused the same way.
 *
 * A field error names the input's own fields for an argument called `input` (`email`,
 * `settings.defaultRole`), as the services do, and the argument first otherwise (`slug`,
 * `filter.since`).
 */
export function normalizeIdArguments(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const normalizers = argumentNormalizers(field.args);
      if (!normalizers) continue;
      if (field.resolve) field.resolve = withNormalizedArguments(field.resolve, normalizers);
      if (field.subscribe) field.subscribe = withNormalizedArguments(field.subscribe, normalizers);
    }
  }
  return schema;
}

function withNormalizedArguments(
  resolve: GraphQLFieldResolver<unknown, unknown>,
  normalizers: Map<string, Normalize>,
): GraphQLFieldResolver<unknown, unknown> {
  return (parent, args, ctx, info) => {
    let normalized = args;
    for (const [name, normalize] of normalizers) {
      if (args[name] === undefined || args[name] === null) continue;
      if (normalized === args) normalized = { ...args };
      normalized[name] = normalize(args[name], name === 'input' ? '' : name);
    }
    return resolve(parent, normalized, ctx, info);
  };
}

function argumentNormalizers(args: readonly GraphQLArgument[]): Map<string, Normalize> | undefined {
  let normalizers: Map<string, Normalize> | undefined;
  for (const arg of args) {
    const normalize = normalizerFor(arg.type, new Set(), arg.name);
    if (!normalize) continue;
    normalizers ??= new Map();
    normalizers.set(arg.name, normalize);
  }
  return normalizers;
}

function normalizerFor(type: GraphQLInputType, visiting: Set<string>, name: string): Normalize | undefined {
  if (isNonNullType(type)) return normalizerFor(type.ofType, visiting, name);
  if (isListType(type)) {
    const item = normalizerFor(type.ofType, visiting, name);
    return (
      item &&
      ((value, path) =>
        Array.isArray(value)
          ? value.map((v, i) => (v == null ? v : item(v, `${path}[${i}]`)))
          : item(value, path))
    );
  }
  if (isScalarType(type)) {
    if (type.name === 'ID') {
      return (value, path) => (typeof value === 'string' ? normalizeId(checkedText(value, path)) : value);
    }
    if (type.name === 'String') {
      // A password never reaches SQL (only its hash does), and the password policy names a NUL
      // in a new one together with every other rule it breaks; a lone surrogate is refused here.
      const nulAllowed = PASSWORD_FIELD.test(name);
      return (value, path) => (typeof value === 'string' ? checkedText(value, path, nulAllowed) : value);
    }
    if (type.name === 'DateTimeISO') return checkedDate;
    return undefined;
  }
  if (isInputObjectType(type)) {
    // A recursive input type is followed once; its inner levels keep their spelling.
    if (visiting.has(type.name)) return undefined;
    visiting.add(type.name);
    const fields = new Map<string, Normalize>();
    for (const field of Object.values(type.getFields())) {
      const normalize = normalizerFor(field.type, visiting, field.name);
      if (normalize) fields.set(field.name, normalize);
    }
    visiting.delete(type.name);
    if (fields.size === 0) return undefined;
    return (value, path) => {
      if (value === null || typeof value !== 'object') return value;
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [name, normalize] of fields) {
        if (copy[name] !== undefined && copy[name] !== null) {
          copy[name] = normalize(copy[name], path ? `${path}.${name}` : name);
        }
      }
      return copy;
    };
  }
  return undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const PASSWORD_FIELD = /password$/i;

function checkedText(value: string, path: string, nulAllowed = false): string {
  if (!nulAllowed && value.includes('\u0000')) {
    throw BadUserInputError.field(path, 'Must not contain a NUL character.');
  }
  if (LONE_SURROGATE.test(value)) {
    throw BadUserInputError.field(
      path,
      'Must be valid Unicode text (it holds a lone surrogate, e.g. \\ud800).',
    );
  }
  return value;
}

/** The first and last instants PostgreSQL's timestamptz and every client can hold alike. */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

function checkedDate(value: unknown, path: string): unknown {
  if (!(value instanceof Date)) return value;
  const time = value.getTime();
  if (Number.isNaN(time) || time < EARLIEST || time > LATEST) {
    throw BadUserInputError.field(path, 'Must be a date and time between the years 1 and 9999.');
  }
  return value;
}
