import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  countBodyBytes,
  getBodyBytes,
  getError,
  getPath,
  type Handler,
  type Middleware,
  onFinished,
  onHeaders,
} from '@shallot/stack'
import { AggregatorRegistry, type Registry, type RegistryContentType } from 'prom-client'
import { type ClusterMember, gather, isClusterWorker, joinCluster } from './cluster.js'
import {
  ENDPOINT_NAMES,
  type EndpointPaths,
  type MonitoringOptions,
  type RouteFunction,
  register,
  resolve,
  resolvePaths,
} from './config.js'
import { DASHBOARD_CSP, dashboardHtml } from './dashboard.js'
import {
  formatMetrics,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  wantsOpenMetrics,
} from './exposition.js'
import { describe, PKG } from './options.js'
import type { Readiness } from './readiness.js'
import { bucketOf, MAX_ROUTE_LENGTH, type MetricJSON, SeriesTable, UNMATCHED } from './series.js'
import { type MonitoringStats, mergeStats } from './stats.js'
import { type LocalStats, StatsWindow } from './window.js'

/** The endpoints as plain handlers, to route them yourself (Express: `app.get('/metrics', monitor.handlers.metrics)`). */
export interface MonitorHandlers {
  metrics: Handler
  stats: Handler
  healthz: Handler
  readyz: Handler
  /** Polls the stats endpoint at the path `stats` has relative to `dashboard` in `monitoring()`'s `endpoints` (by default, `./stats`). */
  dashboard: Handler
}

/**
 * What {@link monitoring} returns: the layer itself (a Middleware) with the monitor's
 * registry, its endpoints to place elsewhere, and programmatic access to its numbers.
 */
export interface Monitor extends Middleware {
  /** The prom-client registry the metrics are in. */
  readonly registry: Registry<RegistryContentType>
  /** The endpoints as plain handlers. */
  readonly handlers: MonitorHandlers
  /**
   * The endpoints as a separate layer, to put behind authentication: serves the given paths
   * (unlisted ones at their defaults, `false` for none) and passes other requests on.
   *
   * @example stack(monitor, basic({ users }), monitor.endpoints({ healthz: false, readyz: false }))
   */
  endpoints(paths?: EndpointPaths): Middleware
  /** The `/stats` document (the whole cluster's, in a worker). */
  stats(): Promise<MonitoringStats>
  /** The `/metrics` text (the whole cluster's, in a worker). */
  metrics(format?: 'prometheus' | 'openmetrics'): Promise<string>
  /** Runs the readiness checks, as `/readyz` does. */
  ready(): Promise<Readiness>
}

const kEndpoint: unique symbol = Symbol('shallot.monitoring.endpoint')
interface EndpointFlag {
  [kEndpoint]?: true
}

/**
 * Whether the request was answered by a monitoring endpoint (`/metrics`, `/healthz`...), for
 * an access log that leaves probes and scrapes out. Known once the endpoint handled it.
 */
export function isMonitoringEndpoint(req: IncomingMessage): boolean {
  return (req as EndpointFlag)[kEndpoint] === true
}

type Slots = Record<symbol, number>

const increment = (counts: Float64Array, i: number): void => {
  counts[i] = (counts[i] as number) + 1
}
/** Statuses and methods whose response has no body, whatever the application wrote. */
const noBody = (method: string | undefined, status: number): boolean =>
  method === 'HEAD' || status === 204 || status === 304 || status < 200

function reply(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers?: Readonly<Record<string, string>>
): void {
  res.statusCode = status
  res.setHeader('Content-Type', type)
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('X-Content-Type-Options', 'nosniff')
  if (headers !== undefined) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.end(req.method === 'HEAD' ? undefined : body)
}

const JSON_TYPE = 'application/json; charset=utf-8'

/** Lets GET and HEAD through; other methods get a 405 with `Allow`. Marks the request as an endpoint's. */
function accept(req: IncomingMessage, res: ServerResponse): boolean {
  ;(req as EndpointFlag)[kEndpoint] = true
  const m = req.method
  if (m === 'GET' || m === 'HEAD') return true
  reply(req, res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' })
  return false
}

let warnedRoute = false

/**
 * Request metrics (OpenTelemetry HTTP server conventions, exposed for Prometheus), JSON
 * stats, liveness and readiness endpoints and a live dashboard, in one layer. Put it
 * outermost, so that it times everything and sees every abort.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/monitoring#readme
 * @example
 * ```ts
 * const app = stack(monitoring({ route: normalizeRoute, checks: { db: () => db.ping() } }))(handler)
 * // GET /metrics, /stats, /healthz, /readyz, /_monitor
 * ```
 */
export function monitoring(options?: MonitoringOptions): Monitor {
  const o = resolve(options)
  const { clock, timeBuckets, sizeBuckets, registry, countEndpoints } = o
  const countBytes = o.responseSize
  const routeFn = o.route
  const table = new SeriesTable({
    knownMethods: o.knownMethods,
    withRoute: routeFn !== undefined,
    maxSeries: o.maxSeries,
    timeBuckets,
    sizeBuckets,
  })
  register(o, table)
  const window = new StatsWindow(o.window, clock())

  const localStats = (): LocalStats => {
    let active = 0
    for (const n of table.active) active += n
    return window.snapshot(clock(), active, {
      count: table.list.length,
      max: o.maxSeries,
      overflowed: table.overflowed,
    })
  }

  // Cluster: take part when this is a worker; gather only once the primary welcomed us.
  let clusterKey: number | undefined
  const clusterTimeout = o.cluster?.timeout ?? 2000
  if (o.cluster !== undefined && isClusterWorker()) {
    const member: ClusterMember = {
      part: (kind) =>
        kind === 'metrics' ? registry.getMetricsAsJSON() : Promise.resolve(localStats()),
    }
    clusterKey = joinCluster(member)
  }

  const metricsJSON = async (): Promise<MetricJSON[]> => {
    if (clusterKey !== undefined) {
      const g = await gather(clusterKey, 'metrics', clusterTimeout)
      if (g !== undefined) {
        const merged = AggregatorRegistry.aggregate(g.parts as object[])
        return (await merged.getMetricsAsJSON()) as unknown as MetricJSON[]
      }
    }
    return (await registry.getMetricsAsJSON()) as unknown as MetricJSON[]
  }
  const stats = async (): Promise<MonitoringStats> => {
    if (clusterKey !== undefined) {
      const g = await gather(clusterKey, 'stats', clusterTimeout)
      if (g !== undefined) return mergeStats(g.parts as LocalStats[], g.missing)
    }
    return mergeStats([localStats()], 0)
  }
  const metrics = async (format: 'prometheus' | 'openmetrics' = 'prometheus'): Promise<string> => {
    if (format !== 'prometheus' && format !== 'openmetrics') {
      throw new TypeError(
        `${PKG} metrics(format): format must be 'prometheus' or 'openmetrics', got ${describe(format)}`
      )
    }
    return formatMetrics(await metricsJSON(), format === 'openmetrics')
  }

  // ---- The endpoints ------------------------------------------------------------------
  const healthBody = JSON.stringify({ status: 'ok' })
  const makeDashboard = (statsUrl: string): Handler => {
    const page = dashboardHtml(statsUrl)
    return function dashboard(req, res) {
      if (!accept(req, res)) return
      reply(req, res, 200, 'text/html; charset=utf-8', page, {
        'Content-Security-Policy': DASHBOARD_CSP,
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
      })
    }
  }
  const handlers: MonitorHandlers = {
    metrics: async function metricsEndpoint(req, res) {
      if (!accept(req, res)) return
      const open = wantsOpenMetrics(req.headers.accept)
      const body = formatMetrics(await metricsJSON(), open)
      reply(req, res, 200, open ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE, body, {
        Vary: 'Accept',
      })
    },
    stats: async function statsEndpoint(req, res) {
      if (!accept(req, res)) return
      reply(req, res, 200, JSON_TYPE, JSON.stringify(await stats()))
    },
    healthz: function healthz(req, res) {
      if (!accept(req, res)) return
      reply(req, res, 200, JSON_TYPE, healthBody)
    },
    readyz: async function readyz(req, res) {
      if (!accept(req, res)) return
      const result = await o.checks.run()
      reply(req, res, result.status === 'ok' ? 200 : 503, JSON_TYPE, JSON.stringify(result))
    },
    dashboard: makeDashboard(o.statsUrl),
  }
  const endpointMap = (
    paths: Partial<Record<keyof EndpointPaths, string>>,
    statsUrl: string
  ): Map<string, Handler> => {
    const map = new Map<string, Handler>()
    for (const key of ENDPOINT_NAMES) {
      const path = paths[key]
      if (path === undefined) continue
      map.set(path, key === 'dashboard' ? makeDashboard(statsUrl) : handlers[key])
    }
    return map
  }
  const builtIn = o.paths === undefined ? undefined : endpointMap(o.paths, o.statsUrl)
  const lookup = (map: Map<string, Handler>, req: IncomingMessage): Handler | undefined => {
    try {
      return map.get(getPath(req))
    } catch {
      return undefined // a refused path: the stack answers 400
    }
  }

  // ---- The hot path -------------------------------------------------------------------
  // Per-request state lives on the response under this monitor's own symbols (two nested
  // monitors do not collide); the listeners are made once, here, not per request.
  const kStart = Symbol('start')
  const kHead = Symbol('head')
  const kMethod = Symbol('method')
  const routeOf = (req: IncomingMessage, res: ServerResponse): string => {
    let route: unknown
    try {
      route = (routeFn as RouteFunction)(req, res)
    } catch (err) {
      if (!warnedRoute) {
        warnedRoute = true
        process.emitWarning(
          `${PKG} the route function threw (recorded as ${UNMATCHED}; warned once): ${err instanceof Error ? err.message : String(err)}`
        )
      }
      return UNMATCHED
    }
    if (typeof route !== 'string' || route === '') return UNMATCHED
    return route.length > MAX_ROUTE_LENGTH ? route.slice(0, MAX_ROUTE_LENGTH) : route
  }

  const onHead = (res: ServerResponse): void => {
    ;(res as unknown as Slots)[kHead] = clock()
  }

  const onDone = (err: Error | null, res: ServerResponse): void => {
    const r = res as unknown as Slots
    const method = r[kMethod] as number
    ;(table.active[method] as number)--
    const req = res.req
    if (!countEndpoints && (req as EndpointFlag)[kEndpoint] === true) return
    const end = clock()
    const start = r[kStart] as number
    const head = r[kHead] as number
    const status = res.headersSent ? res.statusCode : 499
    const series = table.get(method, status, routeFn === undefined ? undefined : routeOf(req, res))
    series.requests++
    const aborted = err !== null
    if (aborted) series.aborted++
    const duration = end - start
    increment(series.duration, bucketOf(timeBuckets, duration / 1000))
    series.durationSum += duration / 1000
    let latency = -1
    if (head >= 0) {
      latency = head - start
      increment(series.ttfb, bucketOf(timeBuckets, latency / 1000))
      series.ttfbSum += latency / 1000
      series.ttfbCount++
    }
    if (countBytes) {
      const bytes = noBody(req.method, status) ? 0 : (getBodyBytes(res) ?? 0)
      increment(series.size, bucketOf(sizeBuckets, bytes))
      series.sizeSum += bytes
    }
    window.record(end, duration, latency, status >= 500 || getError(req) !== undefined, aborted)
  }

  const begin = (req: IncomingMessage, res: ServerResponse): void => {
    const r = res as unknown as Slots
    r[kStart] = clock()
    r[kHead] = -1
    const method = table.methodOf(req.method)
    r[kMethod] = method
    ;(table.active[method] as number)++
    if (countBytes) countBodyBytes(res)
    onHeaders(res, onHead)
    onFinished(res, onDone)
  }

  const layer = (next: Handler): Handler => {
    if (builtIn === undefined) {
      return function monitoring(req, res) {
        begin(req, res)
        return next(req, res)
      }
    }
    return function monitoring(req, res) {
      const endpoint = lookup(builtIn, req)
      if (endpoint === undefined) {
        begin(req, res)
        return next(req, res)
      }
      if (countEndpoints) begin(req, res)
      return endpoint(req, res)
    }
  }

  const endpoints = (paths?: EndpointPaths): Middleware => {
    const resolved = resolvePaths(paths, 'endpoints')
    const map = endpointMap(resolved.paths, resolved.statsUrl)
    return (next) =>
      function monitoringEndpoints(req, res) {
        const endpoint = lookup(map, req)
        return endpoint === undefined ? next(req, res) : endpoint(req, res)
      }
  }

  return Object.assign(layer, {
    registry,
    handlers,
    endpoints,
    stats,
    metrics,
    ready: () => o.checks.run(),
  })
}
