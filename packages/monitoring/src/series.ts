/*
 * The HTTP metrics, recorded without prom-client on the hot path: one preallocated Series
 * (plain numbers and Float64Arrays) per label combination, found through a method index, an
 * array indexed by status code and, when there is a route label, a Map by route. Recording a
 * request allocates nothing once its series exists. prom-client only sees these series at
 * scrape time, through the metric objects at the end of this file, registered in its
 * Registry (see the README, "Decisions", for the measurement behind this).
 */

/**
 * The buckets OpenTelemetry recommends for `http.server.request.duration`, in seconds.
 *
 * @see https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#metric-httpserverrequestduration
 */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
])

/** Response body size buckets, in bytes: 0 (empty), then powers of ten from 100 B to 100 MB. */
export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  0, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000,
])

/**
 * The methods OpenTelemetry calls "known": those of RFC 9110, PATCH (RFC 5789) and QUERY.
 * Any other method is recorded as `_OTHER`.
 *
 * @see https://opentelemetry.io/docs/specs/semconv/registry/attributes/http/#http-request-method
 */
export const KNOWN_METHODS: readonly string[] = Object.freeze([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'QUERY',
  'TRACE',
])

/** The label value of a method that is not in the known list (OpenTelemetry's). */
export const OTHER_METHOD = '_OTHER'
/** Every label value of the one series that takes the requests beyond `maxSeries`. */
export const OVERFLOW = '__overflow__'
/** The route label of a request the `route` function gave no route for. */
export const UNMATCHED = '__unmatched__'
/** Longest route label value kept; longer ones are cut (memory per series stays bounded). */
export const MAX_ROUTE_LENGTH = 200

/** The metric names, after the OpenTelemetry HTTP server semantic conventions. */
export const METRIC_NAMES: Readonly<{
  requests: string
  duration: string
  ttfb: string
  size: string
  active: string
  aborted: string
  overflow: string
}> = Object.freeze({
  requests: 'http_server_requests_total',
  duration: 'http_server_request_duration_seconds',
  ttfb: 'http_server_time_to_first_byte_seconds',
  size: 'http_server_response_body_size_bytes',
  active: 'http_server_active_requests',
  aborted: 'http_server_aborted_requests_total',
  overflow: 'http_server_series_overflow_total',
})

type Labels = Readonly<Record<string, string>>

/** The data of one label combination. @internal */
export class Series {
  requests = 0
  aborted = 0
  durationSum = 0
  ttfbSum = 0
  ttfbCount = 0
  sizeSum = 0
  /** Non-cumulative bucket counts; the last slot counts values above the last bound (+Inf). */
  readonly duration: Float64Array
  readonly ttfb: Float64Array
  readonly size: Float64Array

  constructor(
    readonly labels: Labels,
    timeBuckets: number,
    sizeBuckets: number
  ) {
    this.duration = new Float64Array(timeBuckets + 1)
    this.ttfb = new Float64Array(timeBuckets + 1)
    this.size = new Float64Array(sizeBuckets + 1)
  }

  zero(): void {
    this.requests = 0
    this.aborted = 0
    this.durationSum = 0
    this.ttfbSum = 0
    this.ttfbCount = 0
    this.sizeSum = 0
    this.duration.fill(0)
    this.ttfb.fill(0)
    this.size.fill(0)
  }
}

/** Index of the bucket of `value`: the first bound >= value, or bounds.length (+Inf). @internal */
export function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0
  const n = bounds.length
  while (i < n && value > (bounds[i] as number)) i++
  return i
}

type StatusSlots = (Series | Map<string, Series> | undefined)[]

/** Resolved configuration of a table. @internal */
export interface TableConfig {
  knownMethods: readonly string[]
  withRoute: boolean
  maxSeries: number
  timeBuckets: readonly number[]
  sizeBuckets: readonly number[]
}

/**
 * All series of one monitor, capped at `maxSeries` label combinations: beyond it, new
 * combinations are recorded in one overflow series whose labels are all `__overflow__`.
 * @internal
 */
export class SeriesTable {
  /** Label value of each method index; the last is `_OTHER`. */
  readonly methods: readonly string[]
  readonly other: number
  /** In-flight requests per method index. */
  readonly active: Float64Array
  /** Series in creation order (the overflow series is not in it). */
  readonly list: Series[] = []
  overflow: Series | undefined
  /** Requests recorded in the overflow series. */
  overflowed = 0
  private readonly index: Map<string, number>
  private readonly byMethod: StatusSlots[]

  constructor(readonly config: TableConfig) {
    this.methods = [...config.knownMethods, OTHER_METHOD]
    this.other = config.knownMethods.length
    this.index = new Map(config.knownMethods.map((m, i) => [m, i]))
    this.active = new Float64Array(this.methods.length)
    this.byMethod = this.methods.map(() => [])
  }

  /** The index of a request method; unknown ones fold to `_OTHER`. */
  methodOf(method: string | undefined): number {
    if (method === undefined) return this.other
    const i = this.index.get(method)
    return i === undefined ? this.other : i
  }

  /** The series of a label combination, created if the cap allows, else the overflow series. */
  get(method: number, status: number, route: string | undefined): Series {
    const slots = this.byMethod[method] as StatusSlots
    const s = status >= 0 && status < 1000 ? status : 0
    const slot = slots[s]
    if (!this.config.withRoute) {
      if (slot !== undefined) return slot as Series
      if (this.list.length >= this.config.maxSeries) return this.overflowSeries()
      const series = this.create(method, s, undefined)
      slots[s] = series
      return series
    }
    const r = route as string
    let byRoute = slot as Map<string, Series> | undefined
    if (byRoute !== undefined) {
      const found = byRoute.get(r)
      if (found !== undefined) return found
    }
    if (this.list.length >= this.config.maxSeries) return this.overflowSeries()
    if (byRoute === undefined) slots[s] = byRoute = new Map()
    const series = this.create(method, s, r)
    byRoute.set(r, series)
    return series
  }

  /** Zeroes every series (prom-client's `registry.resetMetrics()`); series and labels stay. */
  zero(): void {
    for (const s of this.list) s.zero()
    this.overflow?.zero()
    this.overflowed = 0
  }

  private create(method: number, status: number, route: string | undefined): Series {
    const labels: Record<string, string> = {
      method: this.methods[method] as string,
      status_code: String(status),
    }
    if (route !== undefined) labels.route = route
    const series = new Series(
      Object.freeze(labels),
      this.config.timeBuckets.length,
      this.config.sizeBuckets.length
    )
    this.list.push(series)
    return series
  }

  private overflowSeries(): Series {
    this.overflowed++
    if (this.overflow !== undefined) return this.overflow
    const labels: Record<string, string> = { method: OVERFLOW, status_code: OVERFLOW }
    if (this.config.withRoute) labels.route = OVERFLOW
    this.overflow = new Series(
      Object.freeze(labels),
      this.config.timeBuckets.length,
      this.config.sizeBuckets.length
    )
    return this.overflow
  }
}

/** A sample as prom-client's `getMetricsAsJSON()` gives it. @internal */
export interface MetricValue {
  value: number
  labels: Readonly<Record<string, string | number>>
  metricName?: string
}

/** A metric family as prom-client's `getMetricsAsJSON()` gives it. @internal */
export interface MetricJSON {
  name: string
  help: string
  type: string
  aggregator?: string
  values: MetricValue[]
}

type Kind = 'requests' | 'aborted' | 'duration' | 'ttfb' | 'size' | 'active' | 'overflow'

const HELP: Readonly<Record<Kind, string>> = {
  requests: 'Requests received, by method, status code and route (if any).',
  aborted:
    'Requests whose response did not complete: the client closed the connection or the response was destroyed.',
  duration:
    'Time from the request entering the monitoring layer to the last byte of the response being handed to the OS (OpenTelemetry http.server.request.duration).',
  ttfb: 'Time from the request entering the monitoring layer to the response head being written: latency, not skewed by long or streamed bodies.',
  size: 'Response body bytes written by the application (0 for HEAD, 204 and 304 responses).',
  active: 'Requests in flight (OpenTelemetry http.server.active_requests).',
  overflow:
    'Requests recorded in the __overflow__ series because the number of label combinations reached maxSeries.',
}

/**
 * One of the HTTP metrics, in the shape prom-client's Registry reads (`name`, `help`,
 * `type`, `aggregator`, `get()`, `reset()`), computed from the table at scrape time.
 * @internal
 */
export class TableMetric {
  readonly help: string
  readonly type: string
  readonly aggregator: string = 'sum'

  constructor(
    public name: string,
    private readonly kind: Kind,
    private readonly table: SeriesTable
  ) {
    this.help = HELP[kind]
    this.type =
      kind === 'active'
        ? 'gauge'
        : kind === 'duration' || kind === 'ttfb' || kind === 'size'
          ? 'histogram'
          : 'counter'
  }

  async get(): Promise<MetricJSON> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: 'sum',
      values: this.values(),
    }
  }

  reset(): void {
    this.table.zero()
  }

  private values(): MetricValue[] {
    const { table, kind } = this
    const values: MetricValue[] = []
    if (kind === 'active') {
      // Methods with requests in flight or recorded: not eleven zero lines on a GET-only API.
      const used = new Set<string>()
      for (const s of table.list) used.add(s.labels.method as string)
      table.active.forEach((value, i) => {
        const method = table.methods[i] as string
        if (value !== 0 || used.has(method)) values.push({ value, labels: { method } })
      })
      return values
    }
    if (kind === 'overflow') {
      values.push({ value: table.overflowed, labels: {} })
      return values
    }
    const all = table.overflow === undefined ? table.list : [...table.list, table.overflow]
    for (const s of all) {
      if (kind === 'requests') values.push({ value: s.requests, labels: s.labels })
      else if (kind === 'aborted') {
        if (s.aborted > 0) values.push({ value: s.aborted, labels: s.labels })
      } else if (kind === 'duration') {
        pushHistogram(
          values,
          this.name,
          s.labels,
          table.config.timeBuckets,
          s.duration,
          s.durationSum,
          s.requests
        )
      } else if (kind === 'ttfb') {
        if (s.ttfbCount > 0) {
          pushHistogram(
            values,
            this.name,
            s.labels,
            table.config.timeBuckets,
            s.ttfb,
            s.ttfbSum,
            s.ttfbCount
          )
        }
      } else {
        pushHistogram(
          values,
          this.name,
          s.labels,
          table.config.sizeBuckets,
          s.size,
          s.sizeSum,
          s.requests
        )
      }
    }
    return values
  }
}

function pushHistogram(
  out: MetricValue[],
  name: string,
  labels: Labels,
  bounds: readonly number[],
  counts: Float64Array,
  sum: number,
  count: number
): void {
  const bucket = `${name}_bucket`
  let acc = 0
  for (let i = 0; i < bounds.length; i++) {
    acc += counts[i] as number
    out.push({ value: acc, labels: { ...labels, le: bounds[i] as number }, metricName: bucket })
  }
  out.push({ value: count, labels: { ...labels, le: '+Inf' }, metricName: bucket })
  out.push({ value: sum, labels, metricName: `${name}_sum` })
  out.push({ value: count, labels, metricName: `${name}_count` })
}

/** The metric objects of a table, by kind; `size` is left out when `responseSize` is off. @internal */
export function tableMetrics(table: SeriesTable, responseSize: boolean): TableMetric[] {
  const kinds: Kind[] = ['requests', 'duration', 'ttfb', 'active', 'aborted', 'overflow']
  if (responseSize) kinds.splice(3, 0, 'size')
  return kinds.map((kind) => new TableMetric(METRIC_NAMES[kind], kind, table))
}
