import type { ServiceMetrics } from './metrics.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    /** Counters the services feed (sign-ins, refresh-token reuse). */
    metrics: ServiceMetrics;
  }
}

export {
  AppMetrics,
  type LoginOutcome,
  type MetricSources,
  type ServiceMetrics,
} from './metrics.js';
export { metricsPlugin } from './metrics.plugin.js';
export { metricsHandler } from './metrics.route.js';
