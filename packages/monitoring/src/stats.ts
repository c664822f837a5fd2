import type { LocalStats } from './window.js'

/** Summary of a sliding window of times, in milliseconds; `null`s when it is empty. */
export interface TimeSummary {
  /** How many samples the summary is computed from (at most `window` per process). */
  count: number
  min: number | null
  avg: number | null
  max: number | null
  /** Nearest-rank percentiles: the smallest sample with at least p% of the samples <= it. */
  p50: number | null
  p95: number | null
  p99: number | null
}

/** The JSON served by `/stats`: this process, or the whole cluster. */
export interface MonitoringStats {
  /** When the snapshot was taken (ISO 8601). */
  time: string
  /** Seconds since the process started (the oldest worker's, in a cluster). */
  uptime: number
  /** Processes reporting: 1, or the cluster workers that answered. */
  processes: number
  /** Cluster workers that did not answer in time (0 outside a cluster). */
  missing: number
  requests: {
    /** Requests recorded since the monitor started. */
    total: number
    /** Responses with a status >= 500, or whose request had an error caught by the stack (`getError(req)`). */
    errors: number
    /** `errors / total` (0 when there was no request). */
    errorRate: number
    /** Responses that did not complete (client abort, destroyed socket). */
    aborted: number
    /** Requests in flight. */
    active: number
  }
  lastMinute: {
    requests: number
    errors: number
    errorRate: number
    /** Requests per second over the last minute (over the time since start, if shorter). */
    perSecond: number
  }
  /** Time to the response head (TTFB), over the last `window` requests of each process. */
  latency: TimeSummary
  /** Time to the last byte, over the last `window` requests of each process. */
  duration: TimeSummary
  /** Bytes, summed over the processes. */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number }
  /** CPU seconds used, and percent of one core since the previous snapshot, summed over the processes. */
  cpu: { user: number; system: number; percent: number }
  /** Label combinations in use, the cap, and requests folded into the overflow series. */
  series: { count: number; max: number; overflowed: number }
  /** Per process, in a cluster: pid, uptime, requests, rss, cpu percent. */
  workers: { pid: number; uptime: number; requests: number; rss: number; cpu: number }[]
}

/** Nearest-rank percentile of an ascending array (not empty). @internal */
export function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number
}

/** @internal */
export function summarize(samples: number[]): TimeSummary {
  const n = samples.length
  if (n === 0) return { count: 0, min: null, avg: null, max: null, p50: null, p95: null, p99: null }
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i] as number
  return {
    count: n,
    min: sorted[0] as number,
    avg: sum / n,
    max: sorted[n - 1] as number,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  }
}

const rate = (errors: number, total: number): number => (total === 0 ? 0 : errors / total)

/** Merges the parts of one or more processes into the /stats document. @internal */
export function mergeStats(parts: readonly LocalStats[], missing: number): MonitoringStats {
  const requests = { total: 0, errors: 0, errorRate: 0, aborted: 0, active: 0 }
  const lastMinute = { requests: 0, errors: 0, errorRate: 0, perSecond: 0 }
  const memory = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 }
  const cpu = { user: 0, system: 0, percent: 0 }
  const series = { count: 0, max: 0, overflowed: 0 }
  const latency: number[] = []
  const duration: number[] = []
  let uptime = 0
  for (const p of parts) {
    requests.total += p.requests.total
    requests.errors += p.requests.errors
    requests.aborted += p.requests.aborted
    requests.active += p.requests.active
    lastMinute.requests += p.lastMinute.requests
    lastMinute.errors += p.lastMinute.errors
    lastMinute.perSecond += p.lastMinute.requests / p.lastMinute.seconds
    memory.rss += p.memory.rss
    memory.heapUsed += p.memory.heapUsed
    memory.heapTotal += p.memory.heapTotal
    memory.external += p.memory.external
    cpu.user += p.cpu.user
    cpu.system += p.cpu.system
    cpu.percent += p.cpu.percent
    series.count += p.series.count
    series.max += p.series.max
    series.overflowed += p.series.overflowed
    for (const v of p.latency) latency.push(v)
    for (const v of p.duration) duration.push(v)
    if (p.uptime > uptime) uptime = p.uptime
  }
  requests.errorRate = rate(requests.errors, requests.total)
  lastMinute.errorRate = rate(lastMinute.errors, lastMinute.requests)
  cpu.percent = Math.round(cpu.percent * 10) / 10
  return {
    time: new Date().toISOString(),
    uptime,
    processes: parts.length,
    missing,
    requests,
    lastMinute,
    latency: summarize(latency),
    duration: summarize(duration),
    memory,
    cpu,
    series,
    workers: parts.map((p) => ({
      pid: p.pid,
      uptime: p.uptime,
      requests: p.requests.total,
      rss: p.memory.rss,
      cpu: p.cpu.percent,
    })),
  }
}
