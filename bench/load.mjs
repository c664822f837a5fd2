// The load generator: one run of wrk (C, Debian's `wrk`) or autocannon (npm) against one
// server, in its own process so that the harness can pin it to a core of its own. Speaks
// newline-delimited JSON on stdout:
//   {"event":"measure"}            the warm-up is over, the measured run starts now
//   {"event":"result", ...}        the measured run's numbers
// Usage: node load.mjs --url http://127.0.0.1:PORT/ --duration 5 --warmup 2 --connections 50
//        [--tool wrk|autocannon]

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
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
    tool: { type: 'string', default: 'wrk' },
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

/**
 * CPU time of this process's children that have exited and been waited for (Linux's
 * cutime + cstime, in clock ticks of 10 ms), in milliseconds: wrk's, once it has exited.
 *
 * @returns {number}
 */
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) * 10
}

/**
 * A Lua string literal for wrk's script (JSON's escapes of printable ASCII are Lua's too).
 *
 * @param {string} s
 */
function lua(s) {
  if (!/^[\x20-\x7e]*$/.test(s)) {
    throw new Error(`[bench/load] only printable ASCII in wrk requests: ${JSON.stringify(s)}`)
  }
  return JSON.stringify(s)
}

/**
 * The wrk script: the request's method and headers, and a `done` hook that prints the
 * measured numbers as one JSON line (wrk's latency histogram has microsecond resolution).
 *
 * @param {{ method: string, headers: Record<string, string> }} shape
 */
function wrkScript(shape) {
  const lines = [`wrk.method = ${lua(shape.method)}`]
  for (const [name, value] of Object.entries(shape.headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(value)) {
      throw new Error(`[bench/load] invalid request header ${JSON.stringify(name)}`)
    }
    lines.push(`wrk.headers[${lua(name)}] = ${lua(value)}`)
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'{"requests":%d,"durationUs":%d,"bytes":%d,' +
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' +
      '"p50":%d,"p99":%d,"max":%d,"mean":%f}\\n\',',
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,',
    '    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max,',
    '    latency.mean))',
    'end'
  )
  return `${lines.join('\n')}\n`
}

/**
 * Runs wrk once with one thread (it shares the load core with nothing else) and returns
 * its numbers and the CPU time it used.
 *
 * @param {{ url: string, connections: number, duration: number, script: string }} opts
 */
function runWrk(opts) {
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.duration}s`, '--timeout', '10s']
  const child = spawn('wrk', [...args, '-s', opts.script, opts.url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c) => {
    out += c
  })
  child.stderr.setEncoding('utf8').on('data', (c) => {
    err += c
  })
  const cpuBefore = childrenCpuMs()
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      reject(new Error(`[bench/load] cannot run wrk (apt-get install wrk): ${e.message}`))
    })
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (code !== 0 || line === undefined) {
        reject(new Error(`[bench/load] wrk failed (exit ${code}):\n${err}${out}`))
        return
      }
      resolve({ ...JSON.parse(line), cpuMs: childrenCpuMs() - cpuBefore })
    })
  })
}

/**
 * The wrk variant of {@link main}: warm-up, then the measured run.
 *
 * @param {{ url: string, duration: number, warmup: number, connections: number, pipelining: number, shape: { method: string, headers: Record<string, string> } }} o
 */
async function mainWrk(o) {
  if (o.pipelining !== 1) throw new Error('[bench/load] --pipelining needs --tool autocannon')
  if (!Number.isInteger(o.duration) || !Number.isInteger(o.warmup)) {
    throw new Error('[bench/load] wrk runs whole seconds: --duration and --warmup must be integers')
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'shallot-bench-'))
  try {
    const script = path.join(dir, 'request.lua')
    writeFileSync(script, wrkScript(o.shape))
    const base = { url: o.url, connections: o.connections, script }
    if (o.warmup > 0) await runWrk({ ...base, duration: o.warmup })
    emit({ event: 'measure' })
    const r = await runWrk({ ...base, duration: o.duration })
    const seconds = r.durationUs / 1e6
    emit({
      event: 'result',
      tool: 'wrk',
      requests: r.requests,
      seconds,
      rps: r.requests / seconds,
      latencyMs: { p50: r.p50 / 1000, p99: r.p99 / 1000, max: r.max / 1000, mean: r.mean / 1000 },
      errors: r.connect + r.read + r.write,
      timeouts: r.timeout,
      // wrk counts statuses >= 400 (the scenarios expect 2xx or 3xx)
      non2xx: r.status,
      resets: 0,
      childCpuMs: r.cpuMs,
      loadCpuShare: r.cpuMs / (seconds * 1000),
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
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

  if (values.tool === 'wrk') {
    await mainWrk({ url, duration, warmup, connections, pipelining, shape })
    process.exit(0)
  }
  if (values.tool !== 'autocannon') {
    throw new Error(`[bench/load] --tool must be wrk or autocannon, got ${values.tool}`)
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
    tool: 'autocannon',
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
