import {
  type ApolloServerPlugin,
  type BaseContext,
  type GraphQLRequestListener,
  HeaderMap,
} from '@apollo/server';
import {
  type DefinitionNode,
  type DocumentNode,
  type ExecutionResult,
  execute,
  type FieldNode,
  type GraphQLError,
  type GraphQLFormattedError,
  Kind,
} from 'graphql';

/** The public mutations that spend the per-IP budget: each call is one attempt. */
export const AUTH_MUTATIONS: ReadonlySet<string> = new Set([
  'register',
  'login',
  'refresh',
  'requestPasswordReset',
  'resetPassword',
  'verifyEmail',
  'acceptInvitation',
]);

export type ErrorFormatter = (formatted: GraphQLFormattedError, error: GraphQLError) => GraphQLFormattedError;

/**
 * Several sign-ins (or sign-ups, refreshes) in one operation, aliased or repeated, each count as
 * their own attempt and each get their own answer.
 *
 * graphql-js runs mutation fields one after another and stops at the first one that fails, since
 * every auth mutation is non-null: `{ a: login … b: login … }` would only ever evaluate `a` when
 * it fails, and report nothing about the rest. An operation made only of auth mutations is
 * therefore run one root field at a time, in order, on the same context: every field is
 * evaluated (spending the IP's budget through its own resolver, so the ones past the budget are
 * RATE_LIMITED), and the answer carries every field's error. As for any failed non-null field,
 * `data` is null as soon as one of them fails.
 *
 * Operations mixing in other fields, or with fragments at the root, run as usual.
 */
export function authOperationsPlugin<TContext extends BaseContext>(
  formatError: ErrorFormatter,
): ApolloServerPlugin<TContext> {
  const listener: GraphQLRequestListener<TContext> = {
    async responseForOperation({ operation, document, schema, contextValue, request }) {
      if (operation?.operation !== 'mutation') return null;
      const selections = operation.selectionSet.selections;
      if (selections.length < 2) return null;
      const fields: FieldNode[] = [];
      for (const selection of selections) {
        if (selection.kind !== Kind.FIELD || !AUTH_MUTATIONS.has(selection.name.value)) return null;
        fields.push(selection);
      }
      const fragments = document.definitions.filter(
        (definition: DefinitionNode) => definition.kind === Kind.FRAGMENT_DEFINITION,
      );
      const data: Record<string, unknown> = {};
      const errors: GraphQLError[] = [];
      let failed = false;
      for (const field of fields) {
        const single: DocumentNode = {
          kind: Kind.DOCUMENT,
          definitions: [
            { ...operation, selectionSet: { ...operation.selectionSet, selections: [field] } },
            ...fragments,
          ],
        };
        const result: ExecutionResult = await execute({
          schema,
          document: single,
          contextValue,
          variableValues: request.variables,
          operationName: operation.name?.value,
        });
        if (result.errors) errors.push(...result.errors);
        const key = field.alias?.value ?? field.name.value;
        if (!result.data) failed = true;
        else if (key in result.data) data[key] = result.data[key];
      }
      return {
        http: { status: undefined, headers: new HeaderMap() },
        body: {
          kind: 'single',
          singleResult: {
            data: failed ? null : data,
            ...(errors.length > 0
              ? { errors: errors.map((error) => formatError(error.toJSON(), error)) }
              : {}),
          },
        },
      };
    },
  };
  return { requestDidStart: async () => listener };
}
