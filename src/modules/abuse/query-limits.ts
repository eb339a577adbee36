import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  type ValueNode,
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
    validationRules,
    parseOptions: { maxTokens: MAX_TOKENS },
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
      size = given !== undefined ? given : fallback?.kind === Kind.INT ? Number.parseInt(fallback.value, 10) : 1;
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

/** Refuses (HTTP 400, QUERY_REJECTED) an operation whose cost exceeds `maxCost`. */
export function costLimitPlugin<TContext extends BaseContext>(maxCost: number): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (operation && operationCost(operation, document, request.variables ?? {}) > maxCost) {
            throw new AppError('QUERY_REJECTED', QUERY_REJECTED_MESSAGE, { http: { status: 400 } });
          }
        },
      };
    },
  };
}
