import type { ApolloServerPlugin, BaseContext, GraphQLRequestListener } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
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
import { AppError, QUERY_REJECTED_MESSAGE } from '../../graphql/errors.js';

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
export function queryLimits(options: { hideFieldSuggestions: boolean }) {
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
    plugins: [...plugins, costLimitPlugin(MAX_COST)],
    // graphql-armor is typed against graphql's CommonJS build; the functions are the same.
    validationRules: validationRules as unknown as ValidationRule[],
    parseOptions: { maxTokens: MAX_TOKENS },
    maxCost: MAX_COST,
  };
}

const OBJECT_COST = 2;
const SCALAR_COST = 1;
const DEPTH_FACTOR = 1.5;

/**
 * graphql-armor's cost model (an object costs 2 plus 1.5 × its children, a scalar 1, a page of
 * `first: n` n times its selection), applied once the variables are known: graphql-armor runs as
 * a validation rule, before variables, and counts `users(first: $n)` as a page of 1 whatever `$n`
 * is, so writing the page size as a variable made any operation up to 100 times cheaper.
 */
export function operationCost(
  operation: OperationDefinitionNode,
  document: DocumentNode,
  variables: Record<string, unknown>,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const defaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) defaults.set(definition.variable.name.value, definition.defaultValue);
  }
  const pageSize = (value: ValueNode): number => {
    let size: unknown = 1;
    if (value.kind === Kind.INT) size = Number.parseInt(value.value, 10);
    else if (value.kind === Kind.VARIABLE) {
      const name = value.name.value;
      const given = variables[name];
      const fallback = defaults.get(name);
      size =
        given !== undefined ? given : fallback?.kind === Kind.INT ? Number.parseInt(fallback.value, 10) : 1;
    }
    return typeof size === 'number' && Number.isFinite(size) && size > 1 ? size : 1;
  };
  const fragmentCosts = new Map<string, number>();
  const fragmentCost = (name: string, visiting: Set<string>): number => {
    const known = fragmentCosts.get(name);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    // A cycle is refused by graphql-js's own NoFragmentCycles rule.
    if (!fragment || visiting.has(name)) return 0;
    visiting.add(name);
    const cost = OBJECT_COST + DEPTH_FACTOR * selectionsCost(fragment.selectionSet, visiting);
    visiting.delete(name);
    fragmentCosts.set(name, cost);
    return cost;
  };
  const selectionsCost = (set: SelectionSetNode, visiting: Set<string>): number =>
    set.selections.reduce((sum, child) => sum + nodeCost(child, visiting), 0);
  const nodeCost = (node: SelectionNode, visiting: Set<string>): number => {
    if (node.kind === Kind.FRAGMENT_SPREAD) {
      return SCALAR_COST + DEPTH_FACTOR * fragmentCost(node.name.value, visiting);
    }
    if (node.kind === Kind.INLINE_FRAGMENT) {
      return OBJECT_COST + DEPTH_FACTOR * selectionsCost(node.selectionSet, visiting);
    }
    // Introspection is governed by GRAPHQL_INTROSPECTION, not by cost.
    if (node.name.value === '__schema' || node.name.value === '__type') return 0;
    if (!node.selectionSet) return SCALAR_COST;
    const page = node.arguments?.find((arg) => arg.name.value === 'first' || arg.name.value === 'last');
    const size = page ? pageSize(page.value) : 1;
    return (OBJECT_COST + DEPTH_FACTOR * selectionsCost(node.selectionSet, visiting)) * size;
  };
  return selectionsCost(operation.selectionSet, new Set());
}

/**
 * The same check as a validation rule, for documents checked ahead of time (e.g. the console's
 * saved operations), with the variables they will be sent with.
 */
export function costLimitRule(maxCost: number, variables: Record<string, unknown> = {}): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation) {
      if (operationCost(operation, context.getDocument(), variables) > maxCost) {
        context.reportError(new GraphQLError(QUERY_REJECTED_MESSAGE, { nodes: [operation] }));
      }
    },
  });
}

/** Refuses (HTTP 400, QUERY_REJECTED) an operation whose cost exceeds `maxCost`. */
export function costLimitPlugin<TContext extends BaseContext>(maxCost: number): ApolloServerPlugin<TContext> {
  const listener: GraphQLRequestListener<TContext> = {
    async didResolveOperation({ operation, document, request }) {
      if (operation && operationCost(operation, document, request.variables ?? {}) > maxCost) {
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
  if (operation && operationCost(operation, document, request.variables ?? {}) > limits.maxCost) {
    return [new GraphQLError(QUERY_REJECTED_MESSAGE)];
  }
  return { schema, document, operationName: request.operationName, variableValues: request.variables };
}
