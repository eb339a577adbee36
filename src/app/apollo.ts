import type { Server } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { Config } from '../config.js';
import type { Context, Deps } from '../kernel/context.js';
import { authOperationsPlugin } from '../modules/abuse/auth-operations.js';
import type { queryLimits } from '../modules/abuse/query-limits.js';
import { type AppMetrics, metricsPlugin } from '../modules/metrics/index.js';
import { outcomePlugin, type RequestLog, requestLogPlugin } from './plugins.js';

export interface ApolloInputs {
  config: Config;
  deps: Deps;
  schema: GraphQLSchema;
  limits: ReturnType<typeof queryLimits>;
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  metrics: AppMetrics;
  requestLog: RequestLog;
  httpServer: Server;
  /** Closes the WebSocket server when Apollo drains. */
  closeWebSockets: () => Promise<void>;
}

/** Apollo Server with the operation limits, the error formatter and the service's plugins. */
export function buildApollo(inputs: ApolloInputs): ApolloServer<Context> {
  const { config, deps, schema, limits, format, metrics, requestLog, httpServer } = inputs;
  return new ApolloServer<Context>({
    schema,
    csrfPrevention: true,
    // main.ts owns signal handling: it closes WebSockets, pools and Redis too.
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    validationRules: limits.validationRules,
    introspection: config.introspection,
    parseOptions: limits.parseOptions,
    // The formatter adds a stack (without the error's message) only under GRAPHQL_DEBUG_ERRORS.
    includeStacktraceInErrorResponses: false,
    formatError: format,
    plugins: [
      // graphql-armor is typed against Apollo's CommonJS build; the objects are the same.
      ...(limits.plugins as unknown as ApolloServerPlugin<Context>[]),
      authOperationsPlugin<Context>(format),
      metricsPlugin<Context>(metrics, (context) => context.caller !== null),
      requestLogPlugin(requestLog),
      outcomePlugin(deps),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      { serverWillStart: async () => ({ drainServer: inputs.closeWebSockets }) },
      ApolloServerPluginLandingPageDisabled(),
      // Nothing here is cacheable by HTTP caches (every answer depends on the caller), and the
      // default cache-control plugin wraps every field resolver to compute hints for it.
      ApolloServerPluginCacheControlDisabled(),
    ],
  });
}
