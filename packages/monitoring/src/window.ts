/*
 * What /stats reports, kept in bounded memory: running totals, the last `size` latencies and
 * durations in two ring buffers (Float64Array), and 60 one-second buckets for the last
 * minute. Recording a request writes a few numbers and allocates nothing.
 */

/** The part of /stats one process contributes; plain data, so it can cross the cluster IPC. @internal */
export interface LocalStats {
  pid: number
  /** Seconds since the process started. */
  uptime: number
  requests: { total: number; errors: number; aborted: number; active: number }
  lastMinute: { requests: number; errors: number; seconds: number }
  /** Milliseconds to the response head, the last `window` requests that had one. */
  latency: number[]
  /** Milliseconds to the last byte, the last `window` requests. */
  duration: number[]
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number }
  cpu: { user: number; system: number; percent: number }
  series: { count: number; max: number; overflowed: number }
}

const SECONDS = 60

/** @internal */
export class StatsWindow {
  total = 0
  errors = 0
  aborted = 0
  private readonly latency: Float64Array
  private latencyNext = 0
  private latencyCount = 0
  private readonly duration: Float64Array
  private durationNext = 0
  private durationCount = 0
  private readonly stamp = new Float64Array(SECONDS).fill(-1)
  private readonly perSecond = new Float64Array(SECONDS)
  private readonly errorsPerSecond = new Float64Array(SECONDS)
  private lastCpu: NodeJS.CpuUsage | undefined
  private lastCpuAt = 0

  constructor(
    size: number,
    private readonly startedAt: number
  ) {
    this.latency = new Float64Array(size)
    this.duration = new Float64Array(size)
  }

  /**
   * Records one finished request. `now` and the durations are milliseconds; `latency` is
   * negative when no head was written.
   */
  record(now: number, duration: number, latency: number, error: boolean, aborted: boolean): void {
    this.total++
    if (error) this.errors++
    if (aborted) this.aborted++
    const size = this.duration.length
    this.duration[this.durationNext] = duration
    this.durationNext = this.durationNext + 1 === size ? 0 : this.durationNext + 1
    if (this.durationCount < size) this.durationCount++
    if (latency >= 0) {
      this.latency[this.latencyNext] = latency
      this.latencyNext = this.latencyNext + 1 === size ? 0 : this.latencyNext + 1
      if (this.latencyCount < size) this.latencyCount++
    }
    const second = Math.floor(now / 1000)
    const slot = second % SECONDS
    if (this.stamp[slot] !== second) {
      this.stamp[slot] = second
      this.perSecond[slot] = 0
      this.errorsPerSecond[slot] = 0
    }
    this.perSecond[slot] = (this.perSecond[slot] as number) + 1
    if (error) this.errorsPerSecond[slot] = (this.errorsPerSecond[slot] as number) + 1
  }

  /** This process's contribution to /stats, at clock time `now` (ms). */
  snapshot(
    now: number,
    active: number,
    series: { count: number; max: number; overflowed: number }
  ): LocalStats {
    const second = Math.floor(now / 1000)
    let requests = 0
    let errors = 0
    for (let i = 0; i < SECONDS; i++) {
      const stamp = this.stamp[i] as number
      if (stamp > second - SECONDS && stamp <= second) {
        requests += this.perSecond[i] as number
        errors += this.errorsPerSecond[i] as number
      }
    }
    const elapsed = (now - this.startedAt) / 1000
    const memory = process.memoryUsage()
    return {
      pid: process.pid,
      uptime: process.uptime(),
      requests: { total: this.total, errors: this.errors, aborted: this.aborted, active },
      lastMinute: { requests, errors, seconds: Math.min(SECONDS, Math.max(1, elapsed)) },
      latency: Array.from(this.latency.subarray(0, this.latencyCount)),
      duration: Array.from(this.duration.subarray(0, this.durationCount)),
      memory: {
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
      },
      cpu: this.cpu(),
      series,
    }
  }

  /** CPU seconds used by the process, and the percent of one core since the last call. */
  private cpu(): LocalStats['cpu'] {
    const usage = process.cpuUsage()
    const at = process.uptime()
    const last = this.lastCpu
    const busy =
      last === undefined
        ? usage.user + usage.system
        : usage.user - last.user + (usage.system - last.system)
    const wall = (last === undefined ? at : at - this.lastCpuAt) * 1e6
    this.lastCpu = usage
    this.lastCpuAt = at
    return {
      user: usage.user / 1e6,
      system: usage.system / 1e6,
      percent: wall > 0 ? Math.round((busy / wall) * 1000) / 10 : 0,
    }
  }
}
