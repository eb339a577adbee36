export {
  AppMetrics,
  type LoginOutcome,
  type MetricSources,
  noMetrics,
  type ServiceMetrics,
} from './metrics.js';
export { metricsPlugin } from './metrics.plugin.js';
export { metricsHandler } from './metrics.route.js';
