#!/usr/bin/env node
// The soak: the full demo stack (server.mjs, a child process) under a long run of mixed
// traffic on loopback, with memory reported along the way.
//
//   node soak.mjs [--requests N] [--connections C] [--max-rss-mb M] [--keep-log]
//   (or SOAK_REQUESTS, SOAK_CONNECTIONS, SOAK_MAX_RSS_MB)
//
// N requests (default 1,000,000) go over C kept-alive connections (default 16), one at a
// time on each, from a small HTTP/1.1 client of its own (node:http's costs as much CPU as
// the server). The mix, drawn from a seeded generator:
//   30% anonymous GET / (no cookie: a new session; half of them gzip-compressed)
//   30% GET / by one of 480 virtual clients that keep their cookie (the visit counter: each
//       answer must show the previous count plus one)
//   20% GET /static/hello.txt or /static/style.css
//   10% GET /api/test with the API key, 7% without (401), 3% GET /nope (404)
// The warm-up is the first 10% of the run (at least 20,000 requests), and starts with
// 12,000 anonymous visits, which fill the demo's bounded session store (10,000 sessions):
// after it, every bounded structure is at its steady size.
//
// Memory is the server's: RSS and heap after two full collections, at the start, after the
// warm-up, every 100,000 requests (every 10% of shorter runs) and at the end, each taken
// with no request in flight; the peak RSS is the kernel's high-water mark (VmHWM).
// Exits 1 when an answer was wrong (status, body, counter), a request failed, a log line or
// a request count is missing, the heap at the end exceeds the heap after the warm-up by more
// than 10%, or the peak RSS exceeds the bound (default 256 MiB).
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const here = new URL('.', import.meta.url).pathname
const { values: args } = parseArgs({
  options: {
    requests: { type: 'string' },
    connections: { type: 'string' },
    'max-rss-mb': { type: 'string' },
    'keep-log': { type: 'boolean', default: false },
  },
})
const REQUESTS = positive('requests', args.requests ?? process.env.SOAK_REQUESTS ?? '1000000')
const CONNECTIONS = positive(
  'connections',
  args.connections ?? process.env.SOAK_CONNECTIONS ?? '16'
)
const MAX_RSS_MB = positive(
  'max-rss-mb',
  args['max-rss-mb'] ?? process.env.SOAK_MAX_RSS_MB ?? '256'
)
const HEAP_SLACK = 0.1
const ANONYMOUS_FIRST = 12_000
const WARM_UP = Math.min(REQUESTS, Math.max(Math.round(REQUESTS / 10), 20_000))
const STEP = REQUESTS >= 1_000_000 ? 100_000 : Math.max(1, Math.round(REQUESTS / 10))
const VIRTUAL_CLIENTS = 30 * CONNECTIONS
const KEY = 'test-key-123'

function positive(name, raw) {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const demoDist = join(here, 'node_modules/@shallot/example-demo/dist/app.js')
if (!existsSync(demoDist)) {
  console.error(
    'The demo is not built: run `pnpm exec turbo run build --filter=@shallot/test-soak...` first'
  )
  process.exit(2)
}
const PUBLIC = join(here, 'node_modules/@shallot/example-demo/public')
const FILES = ['hello.txt', 'style.css'].map((name) => ({
  path: `/static/${name}`,
  size: statSync(join(PUBLIC, name)).size,
}))

// ---------------------------------------------------------------------------------------
// The server

const dir = mkdtempSync(join(tmpdir(), 'shallot-soak-'))
const logFile = join(dir, 'access.log')
const child = fork(join(here, 'server.mjs'), [], {
  execArgv: ['--expose-gc'],
  env: { ...process.env, SOAK_LOG_FILE: logFile, NODE_ENV: 'production' },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
})
let childExited = false
child.once('exit', () => {
  childExited = true
})
process.on('exit', () => {
  if (!childExited) child.kill('SIGKILL')
  if (!args['keep-log']) rmSync(dir, { recursive: true, force: true })
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

function ask(type) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.type !== type && !(type === 'stop' && message.type === 'stopped')) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message)
    }
    const onExit = (code) => reject(new Error(`the server exited (code ${code})`))
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send({ type })
  })
}

const [ready] = await Promise.race([
  once(child, 'message'),
  once(child, 'exit').then(([code]) => {
    throw new Error(`the server exited at start-up (code ${code})`)
  }),
])
const PORT = ready.port

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client: one kept-alive socket, one request at a time

class Connection {
  constructor() {
    this.buf = Buffer.alloc(0)
    this.pending = undefined
    this.connect()
  }

  connect() {
    const socket = createConnection({ port: PORT, host: '127.0.0.1' })
    this.socket = socket
    this.closed = false
    socket.setNoDelay(true)
    socket.on('data', (chunk) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
      this.parse()
    })
    const fail = (err) => {
      this.closed = true
      const p = this.pending
      this.pending = undefined
      p?.reject(err)
    }
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('connection closed by the server')))
  }

  request(text) {
    // an idle connection the server closed (keep-alive timeout) is opened again
    if (this.closed) {
      this.buf = Buffer.alloc(0)
      this.connect()
    }
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject }
      this.socket.write(text)
    })
  }

  parse() {
    if (this.pending === undefined) return
    const buf = this.buf
    const end = buf.indexOf('\r\n\r\n')
    if (end === -1) return
    const head = buf.toString('latin1', 0, end).split('\r\n')
    const status = Number(head[0].slice(9, 12))
    const headers = { setCookie: undefined, length: undefined, chunked: false, encoding: undefined }
    for (let i = 1; i < head.length; i++) {
      const line = head[i]
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).toLowerCase()
      const value = line.slice(colon + 1).trim()
      if (name === 'content-length') headers.length = Number(value)
      else if (name === 'transfer-encoding') headers.chunked = value === 'chunked'
      else if (name === 'set-cookie') headers.setCookie = value
      else if (name === 'content-encoding') headers.encoding = value
    }
    let pos = end + 4
    let body
    if (headers.chunked) {
      const parts = []
      for (;;) {
        const eol = buf.indexOf('\r\n', pos)
        if (eol === -1) return
        const size = Number.parseInt(buf.toString('latin1', pos, eol), 16)
        if (size === 0) {
          if (buf.length < eol + 4) return
          pos = eol + 4
          break
        }
        if (buf.length < eol + 2 + size + 2) return
        parts.push(buf.subarray(eol + 2, eol + 2 + size))
        pos = eol + 2 + size + 2
      }
      body = Buffer.concat(parts)
    } else {
      const length = status === 304 || status === 204 ? 0 : (headers.length ?? 0)
      if (buf.length < pos + length) return
      body = buf.subarray(pos, pos + length)
      pos += length
    }
    this.buf = buf.subarray(pos)
    const p = this.pending
    this.pending = undefined
    p.resolve({ status, headers, body })
  }

  close() {
    this.socket.destroy()
  }
}

// ---------------------------------------------------------------------------------------
// The traffic

/** mulberry32: a small seeded generator, so every run sends the same mix. */
function generator(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const HOST = `Host: 127.0.0.1:${PORT}\r\n`
const VISITS = /You have visited this page (\d+) times\./
const counts = {
  anonymous: 0,
  session: 0,
  static: 0,
  'api with key': 0,
  'api without key': 0,
  'not found': 0,
}
const wrong = []
let wrongCount = 0
function isWrong(kind, message) {
  wrongCount++
  if (wrong.length < 20) wrong.push(`${kind}: ${message}`)
}

/** Sends request number `i` on `conn`, from connection `c`'s virtual clients, and checks it. */
async function one(conn, c, clients, random, i) {
  const r = i < ANONYMOUS_FIRST ? 0 : random()
  if (r < 0.3) {
    counts.anonymous++
    const gzip = (i & 1) === 1
    const res = await conn.request(
      `GET / HTTP/1.1\r\n${HOST}Accept: text/html\r\n${gzip ? 'Accept-Encoding: gzip\r\n' : ''}\r\n`
    )
    if (res.status !== 200) return isWrong('anonymous', `status ${res.status}`)
    if (!res.headers.setCookie?.startsWith('sid=')) return isWrong('anonymous', 'no cookie')
    if (gzip) {
      if (res.headers.encoding !== 'gzip') return isWrong('anonymous', 'not gzip-compressed')
    } else if (VISITS.exec(res.body.toString('utf8'))?.[1] !== '1') {
      return isWrong('anonymous', 'not a first visit')
    }
  } else if (r < 0.6) {
    counts.session++
    const client = clients[Math.floor(random() * clients.length)]
    const cookie = client.cookie === undefined ? '' : `Cookie: ${client.cookie}\r\n`
    const res = await conn.request(`GET / HTTP/1.1\r\n${HOST}${cookie}\r\n`)
    if (res.status !== 200) return isWrong('session', `status ${res.status}`)
    if (res.headers.setCookie !== undefined) client.cookie = res.headers.setCookie.split(';')[0]
    const visits = Number(VISITS.exec(res.body.toString('utf8'))?.[1])
    if (visits !== client.visits + 1) {
      return isWrong('session', `visit ${visits} after ${client.visits} (connection ${c})`)
    }
    client.visits = visits
  } else if (r < 0.8) {
    counts.static++
    const file = FILES[i & 1]
    const res = await conn.request(`GET ${file.path} HTTP/1.1\r\n${HOST}\r\n`)
    if (res.status !== 200) return isWrong('static', `status ${res.status}`)
    if (res.body.length !== file.size) return isWrong('static', `${res.body.length} bytes`)
  } else if (r < 0.9) {
    counts['api with key']++
    const res = await conn.request(`GET /api/test HTTP/1.1\r\n${HOST}X-API-Key: ${KEY}\r\n\r\n`)
    if (res.status !== 200) return isWrong('api with key', `status ${res.status}`)
    if (!res.body.toString('utf8').includes('"message":"Hello from the Shallot demo"')) {
      return isWrong('api with key', 'unexpected body')
    }
  } else if (r < 0.97) {
    counts['api without key']++
    const res = await conn.request(`GET /api/test HTTP/1.1\r\n${HOST}\r\n`)
    if (res.status !== 401) return isWrong('api without key', `status ${res.status}`)
  } else {
    counts['not found']++
    const res = await conn.request(`GET /nope HTTP/1.1\r\n${HOST}\r\n`)
    if (res.status !== 404) return isWrong('not found', `status ${res.status}`)
  }
}

const connections = Array.from({ length: CONNECTIONS }, () => new Connection())
const clientsOf = connections.map(() =>
  Array.from({ length: VIRTUAL_CLIENTS / CONNECTIONS }, () => ({ cookie: undefined, visits: 0 }))
)
const randoms = connections.map((_, c) => generator(0x5eed + c))
let issued = 0
let failed = 0

/** Runs requests on every connection until `until` were issued, then waits for the last. */
async function runUntil(until) {
  await Promise.all(
    connections.map(async (conn, c) => {
      while (issued < until) {
        const i = issued++
        try {
          await one(conn, c, clientsOf[c], randoms[c], i)
        } catch (err) {
          failed++
          if (wrong.length < 20) wrong.push(`request ${i}: ${err.message}`)
          throw err
        }
      }
    })
  )
}

// ---------------------------------------------------------------------------------------
// The run

const MiB = 2 ** 20
const rows = []
async function checkpoint(label) {
  const { memory } = await ask('memory')
  rows.push({ label, requests: issued, seconds: (performance.now() - started) / 1000, ...memory })
  const row = rows.at(-1)
  console.log(
    `${label.padEnd(10)} ${String(row.requests).padStart(9)} requests  ${row.seconds.toFixed(1).padStart(7)} s  rss ${(row.rss / MiB).toFixed(1).padStart(6)} MiB  heap ${(row.heapUsed / MiB).toFixed(1).padStart(6)} MiB`
  )
  return row
}

console.log(
  `soak: ${REQUESTS} requests, ${CONNECTIONS} connections, ${VIRTUAL_CLIENTS} virtual clients with cookies, warm-up ${WARM_UP}, server pid ${child.pid}`
)
const started = performance.now()
const start = await checkpoint('start')
const marks = new Set([WARM_UP, REQUESTS])
for (let n = STEP; n < REQUESTS; n += STEP) marks.add(n)
let warm
try {
  for (const mark of [...marks].sort((a, b) => a - b)) {
    await runUntil(mark)
    const row = await checkpoint(
      mark === WARM_UP
        ? 'warm-up'
        : mark === REQUESTS
          ? 'end'
          : `${Math.round((mark / REQUESTS) * 100)}%`
    )
    if (mark === WARM_UP) warm = row
  }
} catch {
  // counted in `failed`; reported below
}
const seconds = (performance.now() - started) / 1000
const end = rows.at(-1)

// What the server counted, then its log.
const stats = await new Promise((resolve, reject) => {
  const conn = new Connection()
  conn
    .request(`GET /stats HTTP/1.1\r\n${HOST}Accept: application/json\r\nConnection: close\r\n\r\n`)
    .then((res) => resolve(JSON.parse(res.body.toString('utf8'))), reject)
})
for (const conn of connections) conn.close()
const peakRss =
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) * 1024
const { log } = await ask('stop')
let lines = 0
for await (const chunk of createReadStream(logFile)) {
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++
}

// ---------------------------------------------------------------------------------------
// The report

const problems = []
if (failed > 0) problems.push(`${failed} request(s) failed`)
if (wrongCount > 0) problems.push(`${wrongCount} wrong answer(s): ${wrong.join('; ')}`)
if (issued !== REQUESTS || end.requests !== REQUESTS)
  problems.push(`only ${end.requests} requests ran`)
if (stats.requests.total !== REQUESTS) {
  problems.push(`monitoring counted ${stats.requests.total} requests, not ${REQUESTS}`)
}
if (log.dropped !== 0 || log.errors !== 0)
  problems.push(`the access log dropped ${log.dropped} line(s), ${log.errors} error(s)`)
// one line per request, and one for the /stats request above
if (lines !== REQUESTS + 1) {
  problems.push(`the access log has ${lines} lines, not ${REQUESTS + 1} (the requests and /stats)`)
}
const heapGrowth = warm === undefined ? Number.NaN : end.heapUsed / warm.heapUsed - 1
if (!(heapGrowth <= HEAP_SLACK)) {
  problems.push(
    `heap at the end ${(end.heapUsed / MiB).toFixed(1)} MiB is ${(heapGrowth * 100).toFixed(1)}% above its level after the warm-up (at most ${HEAP_SLACK * 100}%)`
  )
}
if (!(peakRss <= MAX_RSS_MB * MiB)) {
  problems.push(`peak RSS ${(peakRss / MiB).toFixed(1)} MiB is over the bound of ${MAX_RSS_MB} MiB`)
}

const table = [
  '| point | requests | time (s) | RSS (MiB) | heap used (MiB) | heap total (MiB) | external (MiB) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.label} | ${r.requests.toLocaleString('en-US')} | ${r.seconds.toFixed(1)} | ${(r.rss / MiB).toFixed(1)} | ${(r.heapUsed / MiB).toFixed(1)} | ${(r.heapTotal / MiB).toFixed(1)} | ${(r.external / MiB).toFixed(1)} |`
  ),
]
console.log(`\n${table.join('\n')}\n`)
console.log(
  `requests: ${Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`
)
console.log(
  `time: ${seconds.toFixed(1)} s (${Math.round(REQUESTS / seconds)} requests/s, checkpoints included); peak RSS ${(peakRss / MiB).toFixed(1)} MiB (bound ${MAX_RSS_MB} MiB); heap end vs after warm-up ${heapGrowth >= 0 ? '+' : ''}${(heapGrowth * 100).toFixed(1)}% (bound +${HEAP_SLACK * 100}%)`
)
console.log(
  `server: monitoring counted ${stats.requests.total} requests (${stats.requests.errors} errors: the 401s and 404s, ${stats.requests.aborted} aborted); access log ${lines} lines (the requests and /stats), ${log.dropped} dropped`
)
console.log(
  `SOAK_RESULT ${JSON.stringify({
    ok: problems.length === 0,
    requests: REQUESTS,
    connections: CONNECTIONS,
    seconds: Number(seconds.toFixed(1)),
    start: { rss: start.rss, heapUsed: start.heapUsed },
    warm: warm && { rss: warm.rss, heapUsed: warm.heapUsed },
    end: { rss: end.rss, heapUsed: end.heapUsed },
    peakRss,
    heapGrowth,
    wrong: wrongCount,
    failed,
    logLines: lines,
    monitored: stats.requests.total,
    counts,
  })}`
)
if (problems.length > 0) {
  console.error(`\nSOAK FAILED:\n- ${problems.join('\n- ')}`)
  process.exit(1)
}
console.log('SOAK PASSED')
process.exit(0)
