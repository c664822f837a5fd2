// Memory of @shallot/session's MemoryStore under a flood of new visitors: 1,000,000 requests,
// each starting a new session that it changes (so each is stored), against
// `session({ store: new MemoryStore({ maxEntries: 100_000 }) })`, over real HTTP with
// keep-alive connections (autocannon). The server runs in its own process with --expose-gc;
// it samples its heap every 20 ms for the peak and reports the heap after a forced GC before
// and after the flood, and its resident set (RSS) then and at its peak. Prints one JSON line.
//
// Usage: node bench/session-memory.mjs [--requests N] [--connections N] [--max-entries N]
// (the packages must be built: pnpm -w run build)
import { spawn } from 'node:child_process'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    server: { type: 'boolean', default: false },
    requests: { type: 'string', default: '1000000' },
    connections: { type: 'string', default: '64' },
    'max-entries': { type: 'string', default: '100000' },
  },
})
const maxEntries = Number(values['max-entries'])

if (values.server) {
  await runServer()
} else {
  await runClient()
}

async function runServer() {
  const { getSession, MemoryStore, session } = await import('@shallot/session')
  const { stack } = await import('@shallot/stack')
  const gc = /** @type {() => void} */ (globalThis.gc)
  const store = new MemoryStore({ maxEntries })
  let peak = 0
  const sample = () => {
    const used = process.memoryUsage().heapUsed
    if (used > peak) peak = used
  }
  setInterval(sample, 20).unref()
  const app = stack(session({ secret: 'memory-bench-secret-memory-bench-secret', store }))(
    async (req, res) => {
      if (req.url === '/stats') {
        gc()
        gc()
        const { heapUsed, rss } = process.memoryUsage()
        // the resident set now, and its peak since the process started (kB in resourceUsage)
        const maxRss = process.resourceUsage().maxRSS * 1024
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ heapUsed, peak, rss, maxRss, entries: await store.length() }))
        peak = 0
        return
      }
      getSession(req).set('n', 1)
      res.end('ok')
    }
  )
  const server = http.createServer(app)
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => {
    const address = /** @type {import('node:net').AddressInfo} */ (server.address())
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: address.port })}\n`)
  })
  process.on('SIGTERM', () => process.exit(0))
}

/** @returns {Promise<{ heapUsed: number, peak: number, rss: number, maxRss: number, entries: number }>} */
function stats(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/stats', agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c) => {
          body += c
        })
        res.on('end', () => resolve(JSON.parse(body)))
      })
      .on('error', reject)
  })
}

async function runClient() {
  const { default: autocannon } = await import('autocannon')
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      fileURLToPath(import.meta.url),
      '--server',
      '--max-entries',
      String(maxEntries),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    child.stdout.once('data', (chunk) => resolve(JSON.parse(String(chunk)).port))
  })
  try {
    const before = await stats(port)
    const started = performance.now()
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/`,
      connections: Number(values.connections),
      amount: Number(values.requests),
    })
    const seconds = (performance.now() - started) / 1000
    const after = await stats(port)
    const mb = (n) => Math.round((n / 1024 / 1024) * 10) / 10
    const line = {
      event: 'session-memory',
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      seconds: Math.round(seconds * 10) / 10,
      reqPerSec: Math.round(result.requests.total / seconds),
      maxEntries,
      entriesAfter: after.entries,
      heapBeforeMB: mb(before.heapUsed),
      heapAfterMB: mb(after.heapUsed),
      heapPeakMB: mb(after.peak),
      rssBeforeMB: mb(before.rss),
      rssAfterMB: mb(after.rss),
      rssPeakMB: mb(after.maxRss),
      bytesPerSession: Math.round((after.heapUsed - before.heapUsed) / after.entries),
    }
    process.stdout.write(`${JSON.stringify(line)}\n`)
  } finally {
    child.kill('SIGTERM')
  }
}
