import { readdirSync } from 'node:fs'
import { Agent, type IncomingHttpHeaders, request, type Server } from 'node:http'
import { apiKey } from '@shallot/auth'
import { compression } from '@shallot/compression'
import { cors } from '@shallot/cors'
import { monitoring, normalizeRoute } from '@shallot/monitoring'
import { session } from '@shallot/session'
import { type Handler, type Middleware, mount, stack } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { timing, traceLayers } from '@shallot/timing'
import { expect, vi } from 'vitest'

/** The demo's public/ folder (examples/demo/public). */
export const DEMO_PUBLIC = new URL('../../../examples/demo/public/', import.meta.url)
/** The demo's default API key. */
export const KEY = 'test-key-123'
/** A session secret for the tests. */
export const SECRET = 'faults-secret-0123456789abcdef0123456789'

/** Open file descriptors of this process (sockets, files, pipes). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

/** Connections the server holds open. */
export function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((err, n) => (err ? reject(err) : resolve(n)))
  )
}

/** `heapUsed` after two full collections (the test processes run with `--expose-gc`). */
export function heapAfterGc(): number {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error('run with --expose-gc (see vitest.config.ts)')
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Waits (at most `timeout` ms) until `check` passes; the last failure is the test's. */
export function settle(check: () => void | Promise<void>, timeout = 10_000): Promise<void> {
  return vi.waitFor(check, { timeout, interval: 50 })
}

/**
 * The open descriptors once the server holds no connection and the count has not moved for
 * a few reads (a closed socket's descriptor goes a little after the close): a baseline.
 */
export async function quietFds(server: Server): Promise<number> {
  let last = -1
  let same = 0
  await settle(async () => {
    expect(await connections(server)).toBe(0)
    const now = openFds()
    same = now === last ? same + 1 : 0
    last = now
    expect(same).toBeGreaterThanOrEqual(3)
  })
  return last
}

/** What a `json` access log line holds (the fields the tests read). */
export interface LogLine {
  level: 'info' | 'warn' | 'error'
  method: string
  url: string
  status: number | null
  bytes: number | null
  requestId: string | null
  aborted: boolean
  err?: { type: string; message: string; stack?: string }
  msg?: string
  dropped?: number
}

/** A function sink for `logging({ format: 'json', sink })` that keeps the parsed lines. */
export class JsonLog {
  lines: LogLine[] = []
  readonly sink = (line: string): void => {
    this.lines.push(JSON.parse(line) as LogLine)
  }

  /** The lines of one request id. */
  of(id: string): LogLine[] {
    return this.lines.filter((l) => l.requestId === id)
  }

  /** How many lines each request id has. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const l of this.lines) {
      if (l.requestId !== null) counts.set(l.requestId, (counts.get(l.requestId) ?? 0) + 1)
    }
    return counts
  }
}

/** Stands for the demo's API behind the auth layer. */
const apiHandler: Handler = (_req, res) => {
  res.end('api')
}

/**
 * The demo's layers (examples/demo/src/app.ts), in its order and with its options, around
 * `handler` instead of the demo's API and home page: the faults here need handlers that
 * fail, which the demo does not have. `/static` and `/api` (auth) behave as in the demo; any
 * other path reaches `handler`.
 */
export function demoLayers(handler: Handler, accessLog?: Middleware): Handler {
  return stack(
    { trace: traceLayers() },
    accessLog,
    timing(),
    monitoring({ route: normalizeRoute }),
    compression(),
    cors({
      origin: ['http://localhost:3000'],
      credentials: true,
      exposedHeaders: ['X-Response-Time', 'Server-Timing', 'X-Request-Id'],
    }),
    serveStatic(DEMO_PUBLIC, { prefix: '/static', fallthrough: false, maxAge: 60 }),
    session({ secret: SECRET }),
    apiKey({ keys: [KEY], paths: ['/api'] }),
    mount('/api', apiHandler)
  )(handler)
}

/** How one exchange went, from the client's side; never rejects. */
export interface Exchange {
  /** The status, when a head arrived. */
  status: number | undefined
  headers: IncomingHttpHeaders
  /** The body bytes received, as text. */
  body: string
  /** Whether the whole response arrived. */
  complete: boolean
  /** The client's error (`ECONNRESET`, `aborted`), when the exchange did not complete. */
  error: string | undefined
}

export interface ExchangeOptions {
  method?: string
  path: string
  headers?: Record<string, string>
  /** Sent, then the request is ended (unless `hold`). */
  body?: string
  /** Do not end the request: send `body` and wait (for the server to give up). */
  hold?: boolean
}

/** One request on its own connection (closed after it), resolved with how it went. */
export function exchange(url: string, options: ExchangeOptions): Promise<Exchange> {
  const { port, hostname } = new URL(url)
  return new Promise((resolve) => {
    const out: Exchange = {
      status: undefined,
      headers: {},
      body: '',
      complete: false,
      error: undefined,
    }
    let done = false
    const finish = (error?: Error): void => {
      if (done) return
      done = true
      if (error !== undefined) out.error = (error as NodeJS.ErrnoException).code ?? error.message
      resolve(out)
    }
    const req = request(
      {
        host: hostname,
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        out.status = res.statusCode
        out.headers = res.headers
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          out.body += chunk
        })
        res.on('end', () => {
          out.complete = !res.readableAborted
          finish(out.complete ? undefined : new Error('aborted'))
        })
        res.on('aborted', () => finish(new Error('aborted')))
        res.on('error', finish)
        res.on('close', () => finish(out.complete ? undefined : new Error('aborted')))
      }
    )
    req.on('error', finish)
    if (options.hold) req.write(options.body ?? '')
    else req.end(options.body)
  })
}

/**
 * Sends `count` GET requests over `concurrency` kept-alive connections, the paths in turn,
 * and counts the answers by status (`error` for a request that got none).
 */
export async function load(
  url: string,
  count: number,
  requests: readonly { path: string; headers?: Record<string, string> }[],
  concurrency = 16
): Promise<Map<number | 'error', number>> {
  const { port, hostname } = new URL(url)
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const statuses = new Map<number | 'error', number>()
  const one = (i: number) =>
    new Promise<number | 'error'>((resolve) => {
      const r = requests[i % requests.length] as { path: string; headers?: Record<string, string> }
      const req = request(
        { host: hostname, port, path: r.path, headers: r.headers, agent },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 'error'))
          res.on('error', () => resolve('error'))
        }
      )
      req.on('error', () => resolve('error'))
      req.end()
    })
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const status = await one(next++)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    })
  )
  agent.destroy()
  return statuses
}
