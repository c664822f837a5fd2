/**
 * @shallot/monitoring: request metrics after the OpenTelemetry HTTP server conventions,
 * exposed for Prometheus (text or OpenMetrics) through prom-client, JSON stats, liveness and
 * readiness endpoints and a live dashboard, cluster-wide from any worker.
 *
 * @module
 */
export { type ClusterPrimaryOptions, setupClusterPrimary } from './cluster.js'
export type {
  ClusterOptions,
  DefaultMetricsOptions,
  EndpointPaths,
  MonitoringOptions,
  RouteFunction,
} from './config.js'
export { isMonitoringEndpoint, type Monitor, type MonitorHandlers, monitoring } from './monitor.js'
export type { CheckResult, Readiness, ReadinessCheck } from './readiness.js'
export { ID_PLACEHOLDER, normalizePath, normalizeRoute } from './route.js'
export {
  DEFAULT_DURATION_BUCKETS,
  DEFAULT_SIZE_BUCKETS,
  KNOWN_METHODS,
  METRIC_NAMES,
  OTHER_METHOD,
  OVERFLOW,
  UNMATCHED,
} from './series.js'
export type { MonitoringStats, TimeSummary } from './stats.js'
