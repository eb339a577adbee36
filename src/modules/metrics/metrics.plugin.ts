import { performance } from 'node:perf_hooks';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { type GraphQLError, Kind } from 'graphql';
import * as clientDocuments from '../../client/generated/graphql.js';
import { type AppMetrics, errorCodeLabel } from './metrics.js';

/** Distinct names of callers' own operations kept as label values; later ones count as "(other)". */
const MAX_OPERATION_NAMES = 200;

/** The operations this service's own client sends (src/client/operations): always labelled. */
export const KNOWN_OPERATION_NAMES: ReadonlySet<string> = new Set(
  Object.values(clientDocuments).flatMap((value) =>
    typeof value === 'object' && value !== null && 'definitions' in value
      ? (value.definitions as { kind: string; name?: { value: string } }[])
          .filter((definition) => definition.kind === Kind.OPERATION_DEFINITION && definition.name)
          .map((definition) => definition.name?.value as string)
      : [],
  ),
);

/**
 * Times every GraphQL request that reaches Apollo's pipeline and counts the errors it answers
 * with, by the code the client sees. Requests refused before the pipeline (a bad token in the
 * context, a CSRF-blocked GET) count as errors without a duration.
 *
 * Operation names come from clients. The client's own operations are always labelled by name;
 * other names only when a signed-in caller sent them (whoever the operation signs in does not
 * count), only once they parsed, validated and resolved against the schema, and at most
 * MAX_OPERATION_NAMES of them, so anonymous clients cannot fill the label slots with names of
 * their own and push real operations into "(other)".
 */
export function metricsPlugin<TContext extends BaseContext>(
  metrics: AppMetrics,
  isSignedIn: (context: TContext) => boolean,
): ApolloServerPlugin<TContext> {
  const seen = new Set<string>();
  const operationLabel = (name: string | null | undefined, signedIn: boolean): string => {
    if (!name) return '(anonymous)';
    if (KNOWN_OPERATION_NAMES.has(name) || seen.has(name)) return name;
    if (!signedIn || seen.size >= MAX_OPERATION_NAMES || name.length > 100) return '(other)';
    seen.add(name);
    return name;
  };
  const countError = (error: { extensions?: { code?: unknown } }) =>
    metrics.graphqlErrors.labels(errorCodeLabel(error.extensions?.code)).inc();
  // prom-client hashes the label values on every `labels()` call; the series themselves are few
  // (operation names are capped above, outcomes are the error codes), so keep each one found.
  const durations = new Map<string, ReturnType<typeof metrics.requestDuration.labels>>();
  const durationOf = (operation: string, outcome: string) => {
    const key = `${operation}\u0000${outcome}`;
    let series = durations.get(key);
    if (!series) {
      series = metrics.requestDuration.labels(operation, outcome);
      durations.set(key, series);
    }
    return series;
  };

  return {
    async contextCreationDidFail({ error }) {
      countError(error as Partial<GraphQLError>);
    },
    async invalidRequestWasReceived() {
      metrics.graphqlErrors.labels('BAD_USER_INPUT').inc();
    },
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      // The context is built before the pipeline: this is the caller the request came with.
      const signedIn = isSignedIn(contextValue);
      let operation = '(unresolved)';
      return {
        async didResolveOperation({ operationName }) {
          operation = operationLabel(operationName, signedIn);
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
          for (const error of errors) countError(error);
          const outcome = errors.length === 0 ? 'ok' : errorCodeLabel(errors[0]?.extensions?.code);
          durationOf(operation, outcome).observe((performance.now() - started) / 1000);
        },
      };
    },
  };
}
