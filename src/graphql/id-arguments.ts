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
import { normalizeId } from '../lib/ids.js';

type Normalize = (value: unknown) => unknown;

/**
 * Ids arrive as text in any case; PostgreSQL matches a UUID whatever its case, but everything
 * that compares or keys by id (permission rules, cache keys, invalidations, event channels) must
 * see one spelling. Every `ID` argument, also inside input objects and lists, is put in its one
 * canonical form (`normalizeId`: lower-case) before the permission rule and the resolver see
 * it. Wraps the resolvers in place; call it on the finished schema, outside the permission layer.
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
      normalized[name] = normalize(args[name]);
    }
    return resolve(parent, normalized, ctx, info);
  };
}

function argumentNormalizers(args: readonly GraphQLArgument[]): Map<string, Normalize> | undefined {
  let normalizers: Map<string, Normalize> | undefined;
  for (const arg of args) {
    const normalize = normalizerFor(arg.type, new Set());
    if (!normalize) continue;
    normalizers ??= new Map();
    normalizers.set(arg.name, normalize);
  }
  return normalizers;
}

function normalizerFor(type: GraphQLInputType, visiting: Set<string>): Normalize | undefined {
  if (isNonNullType(type)) return normalizerFor(type.ofType, visiting);
  if (isListType(type)) {
    const item = normalizerFor(type.ofType, visiting);
    return (
      item && ((value) => (Array.isArray(value) ? value.map((v) => (v == null ? v : item(v))) : item(value)))
    );
  }
  if (isScalarType(type)) {
    return type.name === 'ID'
      ? (value) => (typeof value === 'string' ? normalizeId(value) : value)
      : undefined;
  }
  if (isInputObjectType(type)) {
    // A recursive input type is followed once; its inner levels keep their spelling.
    if (visiting.has(type.name)) return undefined;
    visiting.add(type.name);
    const fields = new Map<string, Normalize>();
    for (const field of Object.values(type.getFields())) {
      const normalize = normalizerFor(field.type, visiting);
      if (normalize) fields.set(field.name, normalize);
    }
    visiting.delete(type.name);
    if (fields.size === 0) return undefined;
    return (value) => {
      if (value === null || typeof value !== 'object') return value;
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [name, normalize] of fields) {
        if (copy[name] !== undefined && copy[name] !== null) copy[name] = normalize(copy[name]);
      }
      return copy;
    };
  }
  return undefined;
}
