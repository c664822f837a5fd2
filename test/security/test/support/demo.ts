import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ServerOptions } from 'node:http'
import { Writable } from 'node:stream'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import { createApp } from '@shallot/example-demo/dist/app.js'
import { type LoggingMiddleware, logging } from '@shallot/logging'
import type { Handler, Middleware } from '@shallot/stack'
import { type Listening, listen } from '@shallot/test-utils'
import { header, headerAll, show, WireClient, type WireRequest, type WireResponse } from './wire.js'

/** The key the demo accepts (its default `DEMO_API_KEYS`). */
export const API_KEY = 'test-key-123'
/** The one origin the demo's CORS layer allows. */
export const ALLOWED_ORIGIN = 'http://localhost:3000'
/** The session secret the tests give the demo, so they can sign ids of their own. */
export const SESSION_SECRET = 'shallot-security-tests-session-secret-0123456789'

/** The files of the demo's public/ folder, served under /static/. */
export const PUBLIC_FILES: Readonly<Record<string, Buffer>> = {
  'hello.txt': readFileSync(new URL('../../../../examples/demo/public/hello.txt', import.meta.url)),
  'style.css': readFileSync(new URL('../../../../examples/demo/public/style.css', import.meta.url)),
}

/** Signs a session id as the session layer does: `<id>.<base64url HMAC-SHA256>`. */
export function signSessionId(id: string, secret = SESSION_SECRET): string {
  return `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`
}

/**
 * Every response header the demo stack may send. A name outside this list on a response is a
 * header that came from somewhere else: from the request, split by a CR/LF.
 */
const KNOWN_RESPONSE_HEADERS = new Set([
  'accept-ranges',
  'access-control-allow-credentials',
  'access-control-allow-headers',
  'access-control-allow-methods',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'allow',
  'cache-control',
  'connection',
  'content-encoding',
  'content-length',
  'content-range',
  'content-security-policy',
  'content-type',
  'date',
  'etag',
  'keep-alive',
  'last-modified',
  'location',
  'referrer-policy',
  'retry-after',
  'server-timing',
  'set-cookie',
  'transfer-encoding',
  'vary',
  'www-authenticate',
  'x-content-type-options',
  'x-frame-options',
  'x-request-id',
  'x-response-time',
])

/** Headers a response carries at most once. */
const SINGLE_RESPONSE_HEADERS = [...KNOWN_RESPONSE_HEADERS].filter((n) => n !== 'set-cookie')

/** Text that must never be in a response: files outside public/, the process's secrets. */
const NEVER_IN_A_BODY = [
  '@shallot/example-demo', // examples/demo/package.json
  'createApp', // examples/demo/{src,dist}/app.*
  'root:x:0:', // /etc/passwd
  SESSION_SECRET,
]

/** The request id the logging layer takes from a request (its README): else a UUID v4. */
export const VALID_REQUEST_ID = /^[A-Za-z0-9\-_.:+=/]{1,128}$/
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A field value as Node hands it to the application: leading and trailing SP/HTAB removed. */
export function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '')
}

/**
 * The value the application sees for a header line we sent, when that is certain: undefined
 * when it holds a CR or LF (Node then refuses the request, or the CRLF ends the line and what
 * follows is another header line, so only the checks of every response apply).
 */
export function seen(value: string): string | undefined {
  return /[\r\n]/.test(value) ? undefined : trimOws(value)
}

function latin1(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('latin1')
}

/** The values of a request's header lines with this name (case-insensitive), as latin1. */
export function requestHeaders(req: WireRequest, name: string): string[] {
  const lower = name.toLowerCase()
  return (req.headers ?? []).filter(([n]) => n.toLowerCase() === lower).map(([, v]) => latin1(v))
}

/**
 * Whether the request carries the valid API key (one `X-API-Key` line whose value is the
 * key): `unknown` when a value with a CR or LF mentions the key or its header, as the lines
 * it splits into might then carry one.
 */
export function keyState(req: WireRequest): 'valid' | 'invalid' | 'unknown' {
  const values = (req.headers ?? []).map(([, v]) => latin1(v))
  if (values.some((v) => /[\r\n]/.test(v) && (v.includes(API_KEY) || /x-api-key/i.test(v)))) {
    return 'unknown'
  }
  const keys = requestHeaders(req, 'x-api-key')
  return keys.length === 1 && trimOws(keys[0] as string) === API_KEY ? 'valid' : 'invalid'
}

/** The body without its content coding. Throws when it does not decode. */
export function decodedBody(res: WireResponse): Buffer {
  // No body at all (HEAD, 204, 304) says nothing about its coding.
  if (res.body.length === 0) return res.body
  const coding = (header(res, 'content-encoding') ?? 'identity').toLowerCase()
  switch (coding) {
    case 'identity':
      return res.body
    case 'gzip':
      return gunzipSync(res.body)
    case 'br':
      return brotliDecompressSync(res.body)
    case 'deflate':
      return inflateSync(res.body)
    default:
      throw new Error(`unknown Content-Encoding ${show(coding)}`)
  }
}

/** The demo API's own answer (only ever for a request with a valid key). */
export function isApiAnswer(res: WireResponse, body = decodedBody(res)): boolean {
  if (res.status < 200 || res.status > 299) return false
  const text = body.toString('latin1')
  return (
    text.includes('"message":"Hello from the Shallot demo"') ||
    text.includes('"message":"Answered after')
  )
}

/** Node's answers to what its parser refuses (the default `clientError` handling). */
export const NODE_400 = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'
export const NODE_431 = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n'

/**
 * Whether this is Node's own refusal of a request no layer saw: its canned 400 or 431, or the
 * empty 400 it sends for an HTTP/1.1 request without Host.
 */
export function isParserRefusal(res: WireResponse): boolean {
  const raw = res.raw.toString('latin1')
  if (raw === NODE_400 || raw === NODE_431) return true
  const names = res.headers.map(([n]) => n.toLowerCase()).sort()
  return (
    res.status === 400 &&
    res.body.length === 0 &&
    names.join() === 'connection,date,transfer-encoding'
  )
}

/** A failed check: what was sent, what came back, what is wrong. */
export class PropertyViolation extends Error {
  override name = 'PropertyViolation'
}

export function describeExchange(
  req: WireRequest | undefined,
  res: WireResponse | undefined
): string {
  const lines: string[] = []
  if (req !== undefined) {
    lines.push(`  request: ${req.method ?? 'GET'} ${show(latin1(req.target), 200)}`)
    for (const [n, v] of req.headers ?? []) lines.push(`    ${n}: ${show(v, 200)}`)
  }
  if (res !== undefined) {
    lines.push(`  response: ${res.status} ${res.reason}`)
    for (const [n, v] of res.headers) lines.push(`    ${n}: ${show(v, 200)}`)
    lines.push(`    body: ${show(res.body, 200)}`)
  }
  return lines.join('\n')
}

export function violation(
  what: string,
  req: WireRequest | undefined,
  res: WireResponse | undefined
): PropertyViolation {
  return new PropertyViolation(`${what}\n${describeExchange(req, res)}`)
}

/** The access log as bytes, one line per exchange: what the tests read it back as. */
export class LogCapture {
  /** What was written and not read yet. */
  private unread: Buffer[] = []
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      this.unread.push(chunk)
      callback()
    },
  })

  /** Lines written since the last call, as latin1 strings of their bytes. */
  take(): string[] {
    const fresh = Buffer.concat(this.unread)
    this.unread = []
    if (fresh.length === 0) return []
    const text = fresh.toString('latin1')
    if (!text.endsWith('\n')) {
      throw new PropertyViolation(`a log line without its newline: ${show(text)}`)
    }
    return text.slice(0, -1).split('\n')
  }
}

/**
 * What a log line may contain: no C0 control (CR, LF, ESC, NUL…), no DEL, no C1 control, no
 * U+2028/U+2029, all of which the logging layer escapes (its README, "Escaping").
 */
export function checkLogLine(line: string): void {
  const bytes = Buffer.from(line, 'latin1')
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f) {
      throw new PropertyViolation(
        `raw control byte 0x${b.toString(16)} in a log line: ${show(line)}`
      )
    }
  }
  const text = bytes.toString('utf8')
  if (/[\u0080-\u009f\u2028\u2029]/.test(text)) {
    throw new PropertyViolation(`raw C1 control or line separator in a log line: ${show(line)}`)
  }
}

/** A line of the Prometheus text exposition format (0.0.4): a comment or a sample. */
const LABEL = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`
const PROMETHEUS_LINE = new RegExp(
  String.raw`^(?:# (?:HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:${LABEL}(?:,${LABEL})*,?)?\})? (?:[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|Inf)|NaN)(?: -?\d+)?)$`
)

/** One line of the `combined` format, as the tests read it. */
const COMBINED =
  /^(\S+) - (.*) \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "(.*)" (\d{3}|-) (\d+|-) "(.*)" "(.*)"$/

export interface DemoOptions {
  /** Node server options (timeouts, parser). */
  server?: ServerOptions
  /**
   * Wraps the demo app: only to show, temporarily, that a property fails when the server
   * misbehaves (e.g. a layer that copies a request header into the response).
   */
  wrap?: Middleware
}

/**
 * The full demo stack of examples/demo (`createApp`, the built file), with an access log in
 * the `combined` format (what server.ts writes when stdout is not a terminal) into memory,
 * on 127.0.0.1 and a free port.
 */
export class Demo {
  readonly client: WireClient
  /** Exchanges done, for the figures. */
  exchanges = 0
  /** Answers by kind since the last {@link takeOutcomes}: `parser` for Node's refusals, else the status. */
  private outcomes = new Map<string, number>()

  private constructor(
    readonly listening: Listening,
    readonly accessLog: LoggingMiddleware,
    readonly log: LogCapture
  ) {
    this.client = new WireClient(listening.port)
  }

  static async start(options: DemoOptions = {}): Promise<Demo> {
    const log = new LogCapture()
    const accessLog = logging({ format: 'combined', sink: log.stream, color: false })
    const app: Handler = createApp({ accessLog, sessionSecret: SESSION_SECRET })
    const handler = options.wrap === undefined ? app : options.wrap(app)
    const listening = await listen(handler, options.server ?? {})
    return new Demo(listening, accessLog, log)
  }

  get port(): number {
    return this.listening.port
  }

  /**
   * Sends one request on the kept-alive connection and checks what must hold for every
   * response: well-formed (the parser), a status below 500, only the demo's own header
   * names, each single-valued header once, no API answer without the key, no file from
   * outside public/, no secret in the body.
   */
  async exchange(req: WireRequest, client = this.client): Promise<WireResponse> {
    this.exchanges++
    let res: WireResponse
    try {
      res = await client.send(req)
    } catch (err) {
      throw violation(`no well-formed response: ${(err as Error).message}`, req, undefined)
    }
    // The log line first: whatever fails next, no line is left over for the next exchange.
    if (header(res, 'x-request-id') !== undefined) await this.checkLog(req, res)
    checkResponse(req, res)
    const kind = isParserRefusal(res) ? `node ${res.status}` : String(res.status)
    this.outcomes.set(kind, (this.outcomes.get(kind) ?? 0) + 1)
    return res
  }

  /** How the answers since the last call were distributed, e.g. `200: 310, node 400: 52`. */
  takeOutcomes(): string {
    const sorted = [...this.outcomes].sort(([a], [b]) => a.localeCompare(b))
    this.outcomes = new Map()
    return sorted.map(([k, n]) => `${k}: ${n}`).join(', ')
  }

  /**
   * Checks the access log line of a response the app sent: exactly one more line (none
   * forged by the request, no error line), the combined format with the response's status
   * and the socket's address (nothing forwarded is believed), no raw control character. The
   * line is written when the exchange is over on the server's side, which may be just after
   * the client has read the response: waits for it, at most 2 s.
   */
  private async checkLog(req: WireRequest, res: WireResponse): Promise<void> {
    const lines = await this.logLines(1)
    if (lines.length === 0) throw violation('no access log line for the response', req, res)
    for (const line of lines) {
      try {
        checkLogLine(line)
      } catch (err) {
        throw violation((err as Error).message, req, res)
      }
    }
    const errors = lines.filter((l) => l.startsWith('[error]'))
    if (errors.length > 0)
      throw violation(`the server logged an error: ${errors.join('\n')}`, req, res)
    if (lines.length > 1) {
      throw violation(`${lines.length} log lines for one response:\n${lines.join('\n')}`, req, res)
    }
    const line = lines[0] as string
    const m = COMBINED.exec(line)
    if (m === null) throw violation(`not a combined log line: ${show(line)}`, req, res)
    // Credentials never reach the log (header, Basic password, Bearer token, query value),
    // unless the client put the key in the path itself.
    const path = latin1(req.target).split('?')[0] as string
    if (line.includes(API_KEY) && !path.includes(API_KEY)) {
      throw violation(`the API key is in the log line: ${show(line)}`, req, res)
    }
    if (m[1] !== '127.0.0.1') {
      throw violation(`logged client address ${show(m[1] as string)}, not the socket's`, req, res)
    }
    if (m[4] !== String(res.status)) {
      throw violation(`the log line has status ${m[4]}: ${show(line)}`, req, res)
    }
  }

  /**
   * The access log lines written since the last call, once there are at least `count` of them
   * (waiting at most `waitMs`); for `count` 0, those written within `waitMs`.
   */
  async logLines(count: number, waitMs = count === 0 ? 100 : 2_000): Promise<string[]> {
    const deadline = Date.now() + waitMs
    let lines: string[] = []
    for (;;) {
      await this.accessLog.flush()
      lines = lines.concat(this.log.take())
      if (count > 0 && lines.length >= count) return lines
      if (Date.now() > deadline) return lines
      await new Promise((resolve) => setTimeout(resolve, count > 0 ? 1 : 10))
    }
  }

  /** Counts an outcome of a property's own, e.g. the content coding chosen. */
  note(kind: string): void {
    this.outcomes.set(kind, (this.outcomes.get(kind) ?? 0) + 1)
  }

  /**
   * Whether the server still answers `GET /` with 200 on a new connection, and its metrics
   * (whose `route` label comes from request paths) are still a well-formed Prometheus
   * exposition and well-formed JSON.
   */
  async stillAnswers(): Promise<void> {
    const fresh = new WireClient(this.port)
    try {
      const home = { target: '/' }
      const res = await this.exchange(home, fresh)
      if (res.status !== 200) throw violation('GET / on a new connection is not a 200', home, res)
      const metricsReq = { target: '/metrics' }
      const metrics = await this.exchange(metricsReq, fresh)
      if (metrics.status !== 200) throw violation('GET /metrics is not a 200', metricsReq, metrics)
      const text = metrics.body.toString('utf8')
      for (const line of text.replace(/\n$/, '').split('\n')) {
        if (!PROMETHEUS_LINE.test(line)) {
          throw violation(`a malformed /metrics line: ${show(line)}`, metricsReq, metrics)
        }
      }
      const statsReq = { target: '/stats' }
      const stats = await this.exchange(statsReq, fresh)
      try {
        JSON.parse(stats.body.toString('utf8'))
      } catch {
        throw violation('/stats is not JSON', statsReq, stats)
      }
    } finally {
      fresh.close()
    }
  }

  async close(): Promise<void> {
    this.client.close()
    await this.listening.close()
    await this.accessLog.close()
  }
}

/** The checks of {@link Demo.exchange}, for one response. */
export function checkResponse(req: WireRequest, res: WireResponse): void {
  if (res.status >= 500) throw violation(`status ${res.status}`, req, res)
  // Node's own answer to what its parser refused: nothing of the request in it.
  if (isParserRefusal(res)) return
  for (const [name] of res.headers) {
    if (!KNOWN_RESPONSE_HEADERS.has(name.toLowerCase())) {
      throw violation(`response header ${show(name)} is not one the demo sends`, req, res)
    }
  }
  for (const name of SINGLE_RESPONSE_HEADERS) {
    if (headerAll(res, name).length > 1) throw violation(`${name} sent more than once`, req, res)
  }
  const id = header(res, 'x-request-id')
  if (id === undefined || !VALID_REQUEST_ID.test(id)) {
    throw violation(`X-Request-Id ${show(id ?? '(none)')} is not a valid request id`, req, res)
  }
  let body: Buffer
  try {
    body = decodedBody(res)
  } catch (err) {
    throw violation(`body does not decode: ${(err as Error).message}`, req, res)
  }
  if (keyState(req) === 'invalid' && isApiAnswer(res, body)) {
    throw violation('the API answered without a valid X-API-Key', req, res)
  }
  const text = body.toString('latin1')
  for (const secret of NEVER_IN_A_BODY) {
    if (text.includes(secret)) throw violation(`the body contains ${show(secret)}`, req, res)
  }
  // A 200 from the static layer (it sends Accept-Ranges) is one of the public files, whole.
  if (res.status === 200 && req.method !== 'HEAD' && header(res, 'accept-ranges') !== undefined) {
    if (!Object.values(PUBLIC_FILES).some((file) => file.equals(body))) {
      throw violation('a static 200 whose body is none of the public files', req, res)
    }
  }
}
