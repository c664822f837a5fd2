import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { Writable } from 'node:stream'
import { type Handler, type Middleware, stack } from '@shallot/stack'
import {
  type Listening,
  listen,
  type RawRequestOptions,
  type RawResponse,
  rawRequest,
} from '@shallot/test-utils'
import morgan from 'morgan'
import type { LogRecord } from '../src/index.js'

/** The inner handler of most tests: 200, a 5-byte body with a Content-Length. */
export const hello: Handler = (_req, res) => {
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.setHeader('Content-Length', '5')
  res.end('hello')
}

/** A Writable that keeps what it is given; `isTTY` can be faked. */
export class MemoryStream extends Writable {
  chunks: string[] = []
  writes = 0
  isTTY: boolean | undefined

  constructor(options: { isTTY?: boolean; highWaterMark?: number } = {}) {
    super({ decodeStrings: false, highWaterMark: options.highWaterMark })
    this.isTTY = options.isTTY
  }

  override _write(
    chunk: string | Buffer,
    _encoding: string,
    cb: (err?: Error | null) => void
  ): void {
    this.writes++
    this.chunks.push(String(chunk))
    cb()
  }

  get text(): string {
    return this.chunks.join('')
  }

  /** The complete lines written so far. */
  get lines(): string[] {
    const text = this.text
    const end = text.lastIndexOf('\n')
    return end === -1 ? [] : text.slice(0, end).split('\n')
  }
}

/** A function sink that keeps its lines and records. */
export function collector(): {
  sink: (line: string, record: LogRecord) => void
  lines: string[]
  records: LogRecord[]
} {
  const lines: string[] = []
  const records: LogRecord[] = []
  return {
    sink: (line, record) => {
      lines.push(line)
      records.push(record)
    },
    lines,
    records,
  }
}

/** Waits (polling, bounded) until `condition` holds: log lines are written after the response. */
export async function until(condition: () => boolean, what = 'the condition'): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Serves `stack(...layers)(handler)` for the duration of `fn`. */
export async function serving(
  layers: Middleware | Middleware[],
  handler: Handler,
  fn: (server: Listening) => Promise<void>
): Promise<void> {
  const server = await listen(stack(...(Array.isArray(layers) ? layers : [layers]))(handler))
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

/** One request to a server. */
export function get(
  server: Listening,
  path = '/',
  headers: Record<string, string | string[]> = {},
  options: RawRequestOptions = {}
): Promise<RawResponse> {
  return rawRequest(server.url, { path, headers, ...options })
}

/**
 * A server with Node's lenient parser, which lets control characters (ESC, DEL, C1...)
 * through in header values, as a server behind some proxies would see them.
 */
export function listenLenient(handler: RequestListener): Promise<Listening> {
  return listen(handler, { insecureHTTPParser: true })
}

/**
 * Sends raw bytes (latin1) on a new connection and resolves with what came back once the
 * server closed it, or after `abortAfter` ms the client destroys the connection itself.
 */
export function rawExchange(port: number, bytes: string, abortAfter?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes, 'latin1'))
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    if (abortAfter !== undefined) setTimeout(() => socket.destroy(), abortAfter)
  })
}

/**
 * Runs morgan (the real one) and our layer on the same request: morgan outside, in its
 * Connect shape, then `app`. Morgan writes to `stream`.
 */
export function withMorgan(
  format: string,
  stream: Writable,
  app: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>
): RequestListener {
  const mw = morgan(format, { stream })
  return (req, res) => {
    mw(req, res, () => {
      void app(req, res)
    })
  }
}

/** Replaces the parts of a line that depend on the clock. */
export function untimed(line: string): string {
  return line
    .replace(/\[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\]/, '[DATE]')
    .replace(/ \d+\.\d{3} ms/, ' N ms')
}

/** Silences process warnings in a test, returning those emitted. */
export function captureWarnings(): { warnings: Error[]; restore: () => void } {
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  const listeners = process.listeners('warning')
  process.removeAllListeners('warning')
  process.on('warning', onWarning)
  return {
    warnings,
    restore: () => {
      process.off('warning', onWarning)
      for (const l of listeners) process.on('warning', l)
    },
  }
}

/** Whether `s` holds a character no log line may: C0 controls (TAB too), DEL, C1, U+2028, U+2029. */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true
  }
  return false
}
