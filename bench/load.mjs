// The load generator: one autocannon run against one server, in its own process so that the
// harness can pin it to a core of its own. Speaks newline-delimited JSON on stdout:
//   {"event":"measure"}            the warm-up is over, the measured run starts now
//   {"event":"result", ...}        the measured run's numbers
// Usage: node load.mjs --url http://127.0.0.1:PORT/ --duration 5 --warmup 2 --connections 50

import { createHistogram } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    pipelining: { type: 'string', default: '1' },
    request: { type: 'string' },
  },
})

/**
 * Parses a numeric option, refusing anything that is not a finite number >= `min`.
 *
 * @param {string} name
 * @param {string | undefined} raw
 * @param {number} min
 * @returns {number}
 */
function numberOption(name, raw, min) {
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min) {
    throw new RangeError(`[bench/load] --${name} must be a number >= ${min}, got ${raw}`)
  }
  return n
}

/**
 * Checks that `raw` is an http URL on the loopback address 127.0.0.1: this tool never sends
 * load anywhere else.
 *
 * @param {string | undefined} raw
 * @returns {string}
 */
function loopbackUrl(raw) {
  const url = new URL(raw ?? '')
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') {
    throw new Error(`[bench/load] only http://127.0.0.1 may be targeted, got ${raw}`)
  }
  return url.href
}

/** @param {Record<string, unknown>} line */
function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/**
 * Runs autocannon once. During the measured run every response's latency is also recorded,
 * in microseconds, into a Node histogram: autocannon's own histogram only has whole
 * milliseconds, too coarse for a loopback p99.
 *
 * @param {{ url: string, connections: number, pipelining: number, duration: number }} opts
 * @param {import('node:perf_hooks').RecordableHistogram} [latencyUs]
 * @returns {Promise<autocannon.Result>}
 */
async function cannon(opts, latencyUs) {
  const instance = autocannon({ ...opts, renderProgressBar: false, renderResultsTable: false })
  if (latencyUs !== undefined) {
    instance.on('response', (_client, _status, _bytes, ms) => {
      latencyUs.record(Math.max(1, Math.round(ms * 1000)))
    })
  }
  return await instance
}

/** Warms the server up, then measures it, and prints the result line. */
async function main() {
  const url = loopbackUrl(values.url)
  const duration = numberOption('duration', values.duration, 1)
  const warmup = numberOption('warmup', values.warmup, 0)
  const connections = numberOption('connections', values.connections, 1)
  const pipelining = numberOption('pipelining', values.pipelining, 1)
  /** @type {{ method?: string, headers?: Record<string, string> }} */
  const request = values.request === undefined ? {} : JSON.parse(values.request)
  const shape = { method: request.method ?? 'GET', headers: request.headers ?? {} }
  // Bounded even if autocannon never returns; the harness kills it too.
  setTimeout(
    () => {
      console.error('[bench/load] timed out')
      process.exit(2)
    },
    (warmup + duration + 30) * 1000
  ).unref()
  if (process.env.SHALLOT_BENCH_WATCH_STDIN === '1') {
    const stop = () => process.exit(3)
    process.stdin.on('end', stop)
    process.stdin.on('error', stop)
    process.stdin.resume()
  }

  if (warmup > 0) await cannon({ url, connections, pipelining, duration: warmup, ...shape })

  emit({ event: 'measure' })
  const latencyUs = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 })
  const cpuBefore = process.cpuUsage()
  const result = await cannon({ url, connections, pipelining, duration, ...shape }, latencyUs)
  const cpu = process.cpuUsage(cpuBefore)
  const seconds = result.duration
  emit({
    event: 'result',
    requests: result.requests.total,
    seconds,
    rps: result.requests.total / seconds,
    latencyMs: {
      p50: latencyUs.percentile(50) / 1000,
      p99: latencyUs.percentile(99) / 1000,
      max: latencyUs.max / 1000,
      mean: latencyUs.mean / 1000,
    },
    autocannonP99Ms: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    resets: result.resets,
    loadCpuShare: (cpu.user + cpu.system) / 1000 / (seconds * 1000),
  })
  process.exit(0)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
