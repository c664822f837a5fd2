/*
 * The options of monitoring(): their types (public) and their validation, once, at start-up.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pathMatcher } from '@shallot/stack'
import { collectDefaultMetrics, Registry, type RegistryContentType } from 'prom-client'
import {
  badOption,
  booleanOption,
  bucketsOption,
  checkKeys,
  integerOption,
  isPlainObject,
} from './options.js'
import { type ReadinessCheck, ReadinessChecks } from './readiness.js'
import {
  DEFAULT_DURATION_BUCKETS,
  DEFAULT_SIZE_BUCKETS,
  KNOWN_METHODS,
  type SeriesTable,
  tableMetrics,
} from './series.js'

/**
 * Gives the `route` label of a request: a low-cardinality template such as `/users/:id`,
 * never the raw path. Called once per request, when the exchange is over (so a router has
 * matched by then). `undefined`, `''` or a non-string is recorded as `__unmatched__`.
 */
export type RouteFunction = (req: IncomingMessage, res: ServerResponse) => string | undefined

/**
 * Where each endpoint is served, as a canonical path matched exactly against `getPath(req)`
 * (so relative to an enclosing `mount`), or `false` for none. Unlisted endpoints keep their
 * default path.
 */
export interface EndpointPaths {
  /** Prometheus / OpenMetrics exposition. @default '/metrics' */
  metrics?: string | false
  /** JSON stats for humans and the dashboard. @default '/stats' */
  stats?: string | false
  /** Liveness: always 200 `{"status":"ok"}` while the process serves requests. @default '/healthz' */
  healthz?: string | false
  /** Readiness: runs `checks`; 200 or 503. @default '/readyz' */
  readyz?: string | false
  /** The live HTML dashboard; needs `stats` in the same set. @default '/_monitor' */
  dashboard?: string | false
}

/** prom-client's default process metrics, and how to collect them. */
export interface DefaultMetricsOptions {
  /** Prefix of every default metric name, e.g. `'myapp_'`. @default '' */
  prefix?: string
  /** Labels added to every default metric. @default {} */
  labels?: Readonly<Record<string, string>>
  /** Buckets of `nodejs_gc_duration_seconds`, in seconds. @default [0.001, 0.01, 0.1, 1, 2, 5] */
  gcDurationBuckets?: readonly number[]
  /** Sampling period of the event-loop delay monitor, in milliseconds. @default 10 */
  eventLoopMonitoringPrecision?: number
}

/** How a cluster worker reports the whole cluster (see `setupClusterPrimary()`). */
export interface ClusterOptions {
  /**
   * Milliseconds the primary waits for the other workers' parts; a worker that does not
   * answer in time is left out (and counted in `/stats` as `missing`).
   *
   * @default 2000
   */
  timeout?: number
}

/** Options of `monitoring()`. */
export interface MonitoringOptions {
  /**
   * The prom-client registry the metrics are registered in (and whose other metrics
   * `/metrics` serves too). Each monitor needs its own: the metric names are fixed.
   *
   * @default a new Registry, one per monitoring() call
   */
  registry?: Registry<RegistryContentType>
  /**
   * Bucket bounds of the two duration histograms, in seconds.
   *
   * @default OpenTelemetry's [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
   */
  buckets?: readonly number[]
  /**
   * Bucket bounds of the response body size histogram, in bytes.
   *
   * @default [0, 100, 1000, 10_000, 100_000, 1e6, 1e7, 1e8]
   */
  sizeBuckets?: readonly number[]
  /**
   * Whether to record the response body size (`http_server_response_body_size_bytes`). It
   * counts the bytes passed to `res.write`/`res.end`, which costs a wrapper per request.
   *
   * @default true
   */
  responseSize?: boolean
  /**
   * Adds a `route` label from this function: your router's template (`/users/:id`), or
   * `normalizeRoute`, which collapses ids in the path. Without it there is no route label:
   * the raw path is never a label.
   *
   * @default undefined (labels: method and status_code)
   */
  route?: RouteFunction
  /**
   * The methods recorded by name; any other is recorded as `_OTHER` (OpenTelemetry). A full
   * override of the default list, case-sensitive.
   *
   * @default ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']
   */
  knownMethods?: readonly string[]
  /**
   * Most label combinations (series) recorded, from 1 to 100000. Requests with a new
   * combination beyond it are recorded in one series whose labels are all `__overflow__`,
   * and counted in `http_server_series_overflow_total`: a scanner cannot grow memory.
   *
   * @default 1000
   */
  maxSeries?: number
  /**
   * prom-client's default process metrics (CPU, memory, heap spaces, event-loop lag, GC,
   * handles, file descriptors): `true`, `false`, or their options.
   *
   * @default true
   */
  defaultMetrics?: boolean | DefaultMetricsOptions
  /**
   * The endpoints this layer serves itself, by path; `false` for none (serve them elsewhere
   * with `monitor.endpoints()` or `monitor.handlers`, e.g. behind authentication).
   *
   * @default { metrics: '/metrics', stats: '/stats', healthz: '/healthz', readyz: '/readyz', dashboard: '/_monitor' }
   */
  endpoints?: boolean | EndpointPaths
  /**
   * Whether requests to the monitoring endpoints are recorded in the metrics and stats like
   * any other. Off, scrapes and probes do not show up as traffic.
   *
   * @default false
   */
  countEndpoints?: boolean
  /**
   * Readiness checks run by `/readyz`, by name. Each gets an AbortSignal and `checkTimeout`
   * milliseconds; they run concurrently, and probes arriving during a run share it.
   *
   * @default {} (ready as soon as the process serves requests)
   * @example { checks: { db: () => pool.query('select 1'), cache: (signal) => fetch(url, { signal }) } }
   */
  checks?: Readonly<Record<string, ReadinessCheck>>
  /**
   * Milliseconds each readiness check may take (from 1 to 60000); a check still running
   * then fails with reason `"timeout"`.
   *
   * @default 1000
   */
  checkTimeout?: number
  /**
   * How many of the latest requests `/stats` computes latency min/avg/max/percentiles over,
   * per process (from 10 to 100000). Memory: 16 bytes per request.
   *
   * @default 1000
   */
  window?: number
  /**
   * In a `node:cluster` worker, whether `/metrics` and `/stats` report the whole cluster
   * (when the primary runs `setupClusterPrimary()`), or only this worker (`false`).
   *
   * @default true
   */
  cluster?: boolean | ClusterOptions
  /**
   * The clock, in milliseconds, monotonic. For tests that need exact durations.
   *
   * @default () => performance.now()
   */
  clock?: () => number
}

/** @internal */
export const DEFAULT_PATHS: Readonly<Required<Record<keyof EndpointPaths, string>>> = Object.freeze(
  {
    metrics: '/metrics',
    stats: '/stats',
    healthz: '/healthz',
    readyz: '/readyz',
    dashboard: '/_monitor',
  }
)
/** @internal */
export const ENDPOINT_NAMES: (keyof EndpointPaths)[] = Object.keys(
  DEFAULT_PATHS
) as (keyof EndpointPaths)[]

const KEYS = [
  'registry',
  'buckets',
  'sizeBuckets',
  'responseSize',
  'route',
  'knownMethods',
  'maxSeries',
  'defaultMetrics',
  'endpoints',
  'countEndpoints',
  'checks',
  'checkTimeout',
  'window',
  'cluster',
  'clock',
]

/** Options of express-prom-bundle and prom-client, and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  includeMethod: 'the method is always a label',
  includeStatusCode: 'the status code is always a label',
  includePath: 'the raw path is never a label; use "route", e.g. normalizeRoute',
  normalizePath: 'use "route", e.g. route: normalizeRoute',
  metricsPath: 'use "endpoints: { metrics: \'/path\' }"',
  autoregister: 'use "endpoints: false"',
  promRegistry: 'use "registry"',
  promClient: 'use "defaultMetrics"',
  customLabels: 'use registry.setDefaultLabels() for labels on every metric',
  httpDurationMetricName: 'metric names are fixed (OpenTelemetry), see the README',
  metricType: 'durations are histograms',
  excludeRoutes: 'put the layer under when() from @shallot/stack',
  bypass: 'put the layer under when() from @shallot/stack',
  percentiles: '/stats reports p50, p95 and p99',
  collectDefaultMetrics: 'use "defaultMetrics"',
}

const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Validated options. @internal */
export interface Resolved {
  registry: Registry<RegistryContentType>
  timeBuckets: readonly number[]
  sizeBuckets: readonly number[]
  responseSize: boolean
  route: RouteFunction | undefined
  knownMethods: readonly string[]
  maxSeries: number
  defaultMetrics: DefaultMetricsOptions | undefined
  paths: Partial<Record<keyof EndpointPaths, string>> | undefined
  statsUrl: string
  countEndpoints: boolean
  checks: ReadinessChecks
  window: number
  cluster: { timeout: number } | undefined
  clock: () => number
}

/** @internal */
export function resolvePaths(
  value: unknown,
  name: string
): { paths: Partial<Record<keyof EndpointPaths, string>>; statsUrl: string } {
  if (value !== undefined && !isPlainObject(value)) {
    badOption(
      name,
      'false or an object of paths { metrics, stats, healthz, readyz, dashboard }',
      value
    )
  }
  checkKeys(value, `option "${name}"`, ENDPOINT_NAMES)
  const given = (value ?? {}) as Record<string, unknown>
  const paths: Partial<Record<keyof EndpointPaths, string>> = {}
  const seen = new Map<string, string>()
  for (const key of ENDPOINT_NAMES) {
    const path = given[key] === undefined ? DEFAULT_PATHS[key] : given[key]
    if (path === false) continue
    const option = `${name}.${key}`
    if (typeof path !== 'string' || path.charCodeAt(0) !== 0x2f) {
      badOption(option, 'a path starting with "/" or false', path)
    }
    try {
      pathMatcher(path, { label: option })
    } catch (err) {
      badOption(option, `a canonical path (${(err as Error).message})`, path)
    }
    const other = seen.get(path)
    if (other !== undefined)
      badOption(option, `a path not already used by "${name}.${other}"`, path)
    seen.set(path, key)
    paths[key] = path
  }
  if (paths.dashboard !== undefined && paths.stats === undefined) {
    badOption(
      `${name}.dashboard`,
      `false when "${name}.stats" is false (the page polls it)`,
      paths.dashboard
    )
  }
  return {
    paths,
    statsUrl: relativeUrl(
      paths.dashboard ?? DEFAULT_PATHS.dashboard,
      paths.stats ?? DEFAULT_PATHS.stats
    ),
  }
}

/** The URL of `to` relative to the page at `from` (both canonical decoded paths). @internal */
export function relativeUrl(from: string, to: string): string {
  const dir = from.split('/').slice(0, -1)
  const target = to.split('/')
  let i = 0
  while (i < dir.length && i < target.length - 1 && dir[i] === target[i]) i++
  const rest = target.slice(i).map(encodeURIComponent).join('/')
  return (dir.length - i === 0 ? './' : '../'.repeat(dir.length - i)) + rest
}

function resolveDefaultMetrics(value: unknown): DefaultMetricsOptions | undefined {
  if (value === undefined || value === true) return {}
  if (value === false) return undefined
  if (!isPlainObject(value)) {
    return badOption('defaultMetrics', 'a boolean or an object of options', value)
  }
  checkKeys(value, 'option "defaultMetrics"', [
    'prefix',
    'labels',
    'gcDurationBuckets',
    'eventLoopMonitoringPrecision',
  ])
  const out: DefaultMetricsOptions = {}
  const { prefix, labels } = value
  if (prefix !== undefined) {
    if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_PREFIX.test(prefix))) {
      badOption('defaultMetrics.prefix', 'a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)', prefix)
    }
    out.prefix = prefix
  }
  if (labels !== undefined) {
    if (!isPlainObject(labels)) badOption('defaultMetrics.labels', 'an object of strings', labels)
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_NAME.test(k) || typeof v !== 'string') {
        badOption('defaultMetrics.labels', 'an object of label names to strings', labels)
      }
    }
    out.labels = labels as Record<string, string>
  }
  if (value.gcDurationBuckets !== undefined) {
    out.gcDurationBuckets = bucketsOption(
      'defaultMetrics.gcDurationBuckets',
      value.gcDurationBuckets,
      []
    )
  }
  if (value.eventLoopMonitoringPrecision !== undefined) {
    out.eventLoopMonitoringPrecision = integerOption(
      'defaultMetrics.eventLoopMonitoringPrecision',
      value.eventLoopMonitoringPrecision,
      1,
      1000,
      10
    )
  }
  return out
}

function isRegistry(value: unknown): value is Registry<RegistryContentType> {
  if (value instanceof Registry) return true
  const r = value as Partial<Record<string, unknown>> | null
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.registerMetric === 'function' &&
    typeof r.getMetricsAsJSON === 'function' &&
    typeof r.getSingleMetric === 'function'
  )
}

/** @internal */
export function resolve(options: MonitoringOptions | undefined): Resolved {
  checkKeys(options, 'monitoring(options)', KEYS, HINTS)
  const o = (options ?? {}) as Record<string, unknown>

  const registry = o.registry === undefined ? new Registry() : o.registry
  if (!isRegistry(registry)) badOption('registry', 'a prom-client Registry', registry)

  const route = o.route
  if (route !== undefined && typeof route !== 'function') {
    badOption('route', 'a function (req, res) => string | undefined, e.g. normalizeRoute', route)
  }

  let knownMethods = KNOWN_METHODS
  if (o.knownMethods !== undefined) {
    const list = o.knownMethods
    const expectation = 'an array of distinct HTTP method names (tokens, case-sensitive)'
    if (!Array.isArray(list) || list.length > 100) badOption('knownMethods', expectation, list)
    const seen = new Set<string>()
    for (const m of list as unknown[]) {
      if (typeof m !== 'string' || !METHOD_TOKEN.test(m) || seen.has(m)) {
        badOption('knownMethods', expectation, m)
      }
      seen.add(m as string)
    }
    knownMethods = Object.freeze([...seen])
  }

  let paths: Resolved['paths']
  let statsUrl = relativeUrl(DEFAULT_PATHS.dashboard, DEFAULT_PATHS.stats)
  if (o.endpoints !== false) {
    const resolved = resolvePaths(o.endpoints === true ? undefined : o.endpoints, 'endpoints')
    paths = resolved.paths
    statsUrl = resolved.statsUrl
  }

  const checks = o.checks ?? {}
  if (!isPlainObject(checks)) badOption('checks', 'an object of named functions', checks)
  const checkList: [string, ReadinessCheck][] = []
  for (const [name, check] of Object.entries(checks)) {
    if (typeof check !== 'function') {
      badOption(`checks.${name}`, 'a function (signal) => Promise', check)
    }
    checkList.push([name, check as ReadinessCheck])
  }
  if (checkList.length > 100) badOption('checks', 'at most 100 checks', checks)

  let cluster: Resolved['cluster']
  const c = o.cluster
  if (c === undefined || c === true) cluster = { timeout: 2000 }
  else if (isPlainObject(c)) {
    checkKeys(c, 'option "cluster"', ['timeout'])
    cluster = { timeout: integerOption('cluster.timeout', c.timeout, 1, 60_000, 2000) }
  } else if (c !== false) badOption('cluster', 'a boolean or { timeout }', c)

  const clock = o.clock
  if (clock !== undefined && typeof clock !== 'function') {
    badOption('clock', 'a function returning milliseconds', clock)
  }

  return {
    registry,
    timeBuckets: bucketsOption('buckets', o.buckets, DEFAULT_DURATION_BUCKETS),
    sizeBuckets: bucketsOption('sizeBuckets', o.sizeBuckets, DEFAULT_SIZE_BUCKETS),
    responseSize: booleanOption('responseSize', o.responseSize, true),
    route: route as RouteFunction | undefined,
    knownMethods,
    maxSeries: integerOption('maxSeries', o.maxSeries, 1, 100_000, 1000),
    defaultMetrics: resolveDefaultMetrics(o.defaultMetrics),
    paths,
    statsUrl,
    countEndpoints: booleanOption('countEndpoints', o.countEndpoints, false),
    checks: new ReadinessChecks(
      checkList,
      integerOption('checkTimeout', o.checkTimeout, 1, 60_000, 1000)
    ),
    window: integerOption('window', o.window, 10, 100_000, 1000),
    cluster,
    clock: (clock as (() => number) | undefined) ?? (() => performance.now()),
  }
}

/** Registers the HTTP metrics and, if asked, the default metrics; refuses a registry that has them. */
export function register(o: Resolved, table: SeriesTable): void {
  const metrics = tableMetrics(table, o.responseSize)
  for (const m of metrics) {
    if (o.registry.getSingleMetric(m.name) !== undefined) {
      badOption(
        'registry',
        `a registry without a metric named "${m.name}" (one monitoring() per registry: give each its own)`,
        o.registry
      )
    }
  }
  const d = o.defaultMetrics
  if (
    d !== undefined &&
    o.registry.getSingleMetric(`${d.prefix ?? ''}process_cpu_user_seconds_total`) !== undefined
  ) {
    badOption(
      'defaultMetrics',
      'false when the registry already collects the default metrics',
      true
    )
  }
  for (const m of metrics)
    o.registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0])
  if (d !== undefined) {
    collectDefaultMetrics({
      register: o.registry as Registry,
      prefix: d.prefix,
      labels: d.labels,
      gcDurationBuckets: d.gcDurationBuckets as number[] | undefined,
      eventLoopMonitoringPrecision: d.eventLoopMonitoringPrecision,
    })
  }
}
