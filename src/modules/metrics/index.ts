export {
  AppMetrics,
  type LoginOutcome,
  type MetricSources,
  type ServiceMetrics,
} from './metrics.js';
export { metricsPlugin } from './metrics.plugin.js';
export { metricsHandler } from './metrics.route.js';
