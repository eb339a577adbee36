import type { ApolloServerPlugin, BaseContext, GraphQLRequestListener } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  getOperationAST,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type OperationDefinitionNode,
  type ParseOptions,
  parse,
  type SelectionNode,
  type SelectionSetNode,
  specifiedRules,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
  validate,
} from 'graphql';
import { AppError, QUERY_REJECTED_MESSAGE } from '../../kernel/errors.js';
import { MAX_PAGE_SIZE } from '../../kernel/pagination.js';
import { MAX_PASSKEYS_PER_USER } from '../mfa/mfa.queries.js';

/** The most lexical tokens an operation may have. */
export const MAX_TOKENS = 2_000;
export const MAX_COST = 5_000;

/**
 * Operation limits: depth, aliases and directives (graphql-armor), cost (`costLimitPlugin`,
 * below) and tokens.
 * Aliases matter beyond cost: each aliased login is another password guess, so 15 per request is
 * plenty. No refusal tells the limits (QUERY_REJECTED_MESSAGE).
 *
 * The token limit is graphql-js's own (`parseOptions.maxTokens`, applied while Apollo parses):
 * graphql-armor's token plugin parses the document a second time inside a plugin hook, where
 * any syntax error — its own refusal included — becomes an HTTP 500 instead of a 400.
 */
export function queryLimits(options: { hideFieldSuggestions: boolean; cost?: CostOptions }) {
  const shared = { exposeLimits: false, errorMessage: QUERY_REJECTED_MESSAGE };
  const armor = new ApolloArmor({
    maxDepth: { ...shared, n: 12, ignoreIntrospection: true },
    maxAliases: { ...shared, n: 15 },
    maxTokens: { enabled: false },
    maxDirectives: { ...shared, n: 50 },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: options.hideFieldSuggestions },
  });
  const { plugins, validationRules } = armor.protect();
  return {
    plugins: [...plugins, costLimitPlugin(MAX_COST, options.cost)],
    // graphql-armor is typed against graphql's CommonJS build; the functions are the same.
    validationRules: validationRules as unknown as ValidationRule[],
    parseOptions: { maxTokens: MAX_TOKENS },
    maxCost: MAX_COST,
    cost: options.cost,
  };
}

const OBJECT_COST = 2;
const SCALAR_COST = 1;
const DEPTH_FACTOR = 1.5;

/**
 * How many items each list of the schema can hold at most, by `Type.field`; the answer never
 * carries more (a page's `first`, enum-sized statistics, the session limit). Fields that take a
 * `first` argument count with its value instead, and the `edges` and `nodes` of a connection
 * count once (their page size is counted at the connection's field). A list missing here counts
 * as UNKNOWN_LIST_SIZE, and a test requires every list of the schema to be here.
 */
export const LIST_SIZES: Readonly<Record<string, number>> = {
  // One per role and per status (the enums' sizes).
  'TenantStats.usersByRole': 4,
  'TenantStats.usersByStatus': 2,
  // The session limit: MAX_SESSIONS_PER_USER's default here, the configured value where the
  // server builds its limits (app.ts passes it as an override).
  'Query.mySessions': 50,
  // One entry per id asked for, at most 100.
  'Query.usersByIds': 100,
  // The passkeys a user may register.
  'MfaStatus.passkeys': MAX_PASSKEYS_PER_USER,
  // A service account's credentials, as many as its answer shows (the newest).
  'ServiceAccount.secrets': 10,
  'ServiceAccount.apiKeys': 25,
};

/** The first `size` items of a list, at most what the cost model counted it at. */
export function bounded<T>(list: T[], field: keyof typeof LIST_SIZES): T[] {
  const size = LIST_SIZES[field] ?? UNKNOWN_LIST_SIZE;
  return list.length <= size ? list : list.slice(list.length - size);
}
export const UNKNOWN_LIST_SIZE = 100;

/** The options of `operationCost` that come from the configuration. */
export interface CostOptions {
  /** Overrides of LIST_SIZES, e.g. the configured session limit. */
  listSizes?: Readonly<Record<string, number>>;
}

/**
 * graphql-armor's cost model (an object costs 2 plus 1.5 × its children, a scalar 1), made to
 * count every list at the most items it can hold: a field with `first` (a page, a user's
 * sessions) counts `first` times its selection, with the schema's default when the argument is
 * left out; any other list its size from LIST_SIZES. Every list of an answer holds at most what
 * it was counted at, so an operation within the limit has an answer bounded by construction:
 * `me { sessions { user { sessions { … } } } }` multiplies at every level and is refused.
 *
 * It runs once the variables are known: graphql-armor runs as a validation rule, before
 * variables, and counted `users(first: $n)` as a page of 1 whatever `$n` was. A page size the
 * field itself refuses (above MAX_PAGE_SIZE, say) counts as 1, so that the field answers
 * BAD_USER_INPUT naming the argument instead of the whole operation being rejected.
 */
export function operationCost(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  document: DocumentNode,
  variables: Record<string, unknown>,
  options: CostOptions = {},
): number {
  const listSizes = { ...LIST_SIZES, ...options.listSizes };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const defaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) defaults.set(definition.variable.name.value, definition.defaultValue);
  }
  const pageSize = (value: ValueNode | undefined, schemaDefault: unknown): number => {
    let size: unknown = schemaDefault;
    if (value?.kind === Kind.INT) size = Number.parseInt(value.value, 10);
    else if (value?.kind === Kind.VARIABLE) {
      const name = value.name.value;
      const given = variables[name];
      const fallback = defaults.get(name);
      size =
        given !== undefined
          ? given
          : fallback?.kind === Kind.INT
            ? Number.parseInt(fallback.value, 10)
            : schemaDefault;
    } else if (value && value.kind !== Kind.NULL) size = undefined;
    // An explicit null takes the field's default, as the resolvers do.
    if (size === null) size = schemaDefault;
    // Not a size the field accepts: it answers BAD_USER_INPUT itself, at the cost of one.
    return typeof size === 'number' && Number.isInteger(size) && size >= 1 && size <= MAX_PAGE_SIZE
      ? size
      : 1;
  };
  const typeNamed = (name: string | undefined, fallback: GraphQLNamedType | undefined) =>
    name === undefined ? fallback : schema.getType(name);
  const fragmentCosts = new Map<string, number>();
  const fragmentCost = (name: string, visiting: Set<string>): number => {
    const known = fragmentCosts.get(name);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    // A cycle is refused by graphql-js's own NoFragmentCycles rule.
    if (!fragment || visiting.has(name)) return 0;
    visiting.add(name);
    const type = schema.getType(fragment.typeCondition.name.value);
    const cost = OBJECT_COST + DEPTH_FACTOR * selectionsCost(fragment.selectionSet, type, visiting);
    visiting.delete(name);
    fragmentCosts.set(name, cost);
    return cost;
  };
  const selectionsCost = (
    set: SelectionSetNode,
    parent: GraphQLNamedType | undefined,
    visiting: Set<string>,
  ): number => set.selections.reduce((sum, child) => sum + nodeCost(child, parent, visiting), 0);
  const nodeCost = (
    node: SelectionNode,
    parent: GraphQLNamedType | undefined,
    visiting: Set<string>,
  ): number => {
    if (node.kind === Kind.FRAGMENT_SPREAD) {
      return SCALAR_COST + DEPTH_FACTOR * fragmentCost(node.name.value, visiting);
    }
    if (node.kind === Kind.INLINE_FRAGMENT) {
      const type = typeNamed(node.typeCondition?.name.value, parent);
      return OBJECT_COST + DEPTH_FACTOR * selectionsCost(node.selectionSet, type, visiting);
    }
    // Introspection is governed by GRAPHQL_INTROSPECTION, not by cost.
    if (node.name.value === '__schema' || node.name.value === '__type') return 0;
    if (!node.selectionSet) return SCALAR_COST;
    const field =
      parent && (isObjectType(parent) || isInterfaceType(parent))
        ? parent.getFields()[node.name.value]
        : undefined;
    const children = selectionsCost(
      node.selectionSet,
      field ? getNamedType(field.type) : undefined,
      visiting,
    );
    return (OBJECT_COST + DEPTH_FACTOR * children) * itemsOf(node, parent, field);
  };
  const itemsOf = (
    node: FieldNode,
    parent: GraphQLNamedType | undefined,
    field: GraphQLField<unknown, unknown> | undefined,
  ): number => {
    const firstArgument = field?.args.find((arg) => arg.name === 'first');
    if (firstArgument || !field) {
      const given = node.arguments?.find((arg) => arg.name.value === 'first' || arg.name.value === 'last');
      // A field the schema lacks is refused by validation; counted as before, by its `first`.
      return pageSize(given?.value, firstArgument?.defaultValue ?? 1);
    }
    if (!isListType(getNullableType(field.type))) return 1;
    if (parent?.name.endsWith('Connection') && (field.name === 'edges' || field.name === 'nodes')) return 1;
    return listSizes[`${parent?.name}.${field.name}`] ?? UNKNOWN_LIST_SIZE;
  };
  const root =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  return selectionsCost(operation.selectionSet, root ?? undefined, new Set());
}

/**
 * The same check as a validation rule, for documents checked ahead of time (e.g. the console's
 * saved operations), with the variables they will be sent with.
 */
export function costLimitRule(
  maxCost: number,
  variables: Record<string, unknown> = {},
  options: CostOptions = {},
): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation) {
      const cost = operationCost(context.getSchema(), operation, context.getDocument(), variables, options);
      if (cost > maxCost) {
        context.reportError(new GraphQLError(QUERY_REJECTED_MESSAGE, { nodes: [operation] }));
      }
    },
  });
}

/** Refuses (HTTP 400, QUERY_REJECTED) an operation whose cost exceeds `maxCost`. */
export function costLimitPlugin<TContext extends BaseContext>(
  maxCost: number,
  options: CostOptions = {},
): ApolloServerPlugin<TContext> {
  const listener: GraphQLRequestListener<TContext> = {
    async didResolveOperation({ operation, document, request, schema }) {
      if (
        operation &&
        operationCost(schema, operation, document, request.variables ?? {}, options) > maxCost
      ) {
        throw new AppError('QUERY_REJECTED', QUERY_REJECTED_MESSAGE, { http: { status: 400 } });
      }
    },
  };
  return { requestDidStart: async () => listener };
}

export interface OperationLimits {
  validationRules: readonly ValidationRule[];
  parseOptions: ParseOptions;
  maxCost: number;
  cost?: CostOptions;
  /** False: introspection fields are refused (production, unless GRAPHQL_INTROSPECTION=true). */
  introspection: boolean;
}

/**
 * Parses and validates an operation under the same limits as HTTP (tokens, depth, aliases,
 * directives, cost, introspection), for transports that do not go through Apollo: the WebSocket
 * server. Returns the errors to answer with, or the execution arguments.
 */
export function prepareOperation(
  schema: GraphQLSchema,
  request: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
  limits: OperationLimits,
):
  | readonly GraphQLError[]
  | {
      schema: GraphQLSchema;
      document: DocumentNode;
      operationName?: string | null;
      variableValues?: Record<string, unknown> | null;
    } {
  // Apollo's codes for the same refusals, which formatError maps to the contract's.
  const coded = (error: GraphQLError, code: string) =>
    new GraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      originalError: error.originalError,
      extensions: { ...error.extensions, code },
    });
  let document: DocumentNode;
  try {
    document = parse(request.query, limits.parseOptions);
  } catch (error) {
    const syntax =
      error instanceof GraphQLError
        ? error
        : new GraphQLError('Syntax Error: the operation could not be parsed.');
    return [coded(syntax, 'GRAPHQL_PARSE_FAILED')];
  }
  const rules = [
    ...specifiedRules,
    ...limits.validationRules,
    ...(limits.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
  ];
  const errors = validate(schema, document, rules);
  if (errors.length > 0) return errors.map((error) => coded(error, 'GRAPHQL_VALIDATION_FAILED'));
  const operation = getOperationAST(document, request.operationName ?? undefined);
  if (
    operation &&
    operationCost(schema, operation, document, request.variables ?? {}, limits.cost) > limits.maxCost
  ) {
    return [new GraphQLError(QUERY_REJECTED_MESSAGE)];
  }
  return { schema, document, operationName: request.operationName, variableValues: request.variables };
}
