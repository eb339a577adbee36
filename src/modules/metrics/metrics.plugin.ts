import { performance } from 'node:perf_hooks';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { type AppMetrics, errorCodeLabel } from './metrics.js';

/** Distinct operation names kept as label values; later ones are counted as "other". */
const MAX_OPERATION_NAMES = 200;

/**
 * Times every GraphQL request that reaches Apollo's pipeline and counts the errors it answers
 * with, by the code the client sees. Requests refused before the pipeline (a bad token in the
 * context, a CSRF-blocked GET) count as errors without a duration.
 *
 * Operation names come from clients, so only names of operations that parsed, validated and
 * resolved against the schema are used, and at most MAX_OPERATION_NAMES of them.
 */
export function metricsPlugin(metrics: AppMetrics): ApolloServerPlugin {
  const seen = new Set<string>();
  const operationLabel = (name: string | null | undefined): string => {
    if (!name) return '(anonymous)';
    if (seen.has(name)) return name;
    if (seen.size >= MAX_OPERATION_NAMES || name.length > 100) return '(other)';
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
    async requestDidStart() {
      const started = performance.now();
      let operation = '(unresolved)';
      return {
        async didResolveOperation({ operationName }) {
          operation = operationLabel(operationName);
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
