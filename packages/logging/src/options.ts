import type { IncomingMessage, ServerResponse } from 'node:http'
import { getClient, type Handler, type TrustProxyOptions, trustProxy } from '@shallot/stack'
import type { FormatName } from './formats.js'
import type { LogRecord } from './record.js'
import { DEFAULT_REDACTED_HEADERS, DEFAULT_REDACTED_QUERY, type QueryRedactor } from './redact.js'
import type { LoggerLike, LogStream, SinkFunction } from './sink.js'
import type { Redaction, TokenFunction } from './tokens.js'

/**
 * A format of your own: returns the line to write (without a newline), or `null` /
 * `undefined` to write nothing for this request. Control characters left in the line
 * (other than TAB) are escaped, so a value you copy from the record cannot break the line;
 * quotes and backslashes are yours to escape (the line may be JSON).
 */
export type FormatFunction = (
  record: LogRecord,
  req: IncomingMessage,
  res: ServerResponse
) => string | null | undefined

/** What `format` accepts. */
export type LoggingFormat = FormatName | (string & {}) | FormatFunction

/** What `sink` accepts: a stream, a function, or a pino-style logger. */
export type LoggingSink = LogStream | SinkFunction<LogRecord> | LoggerLike

/** Options of the request id (the `requestId` option). */
export interface RequestIdOptions {
  /**
   * The header read from the request and set on the response.
   *
   * @default 'X-Request-Id'
   */
  header?: string
  /**
   * Take the id the request carries in `header` when it is valid: 1 to 128 characters among
   * `A-Z a-z 0-9 - _ . : + = /` (UUIDs, ULIDs, hex, base64). An invalid one is replaced by a
   * new id. Turn off when clients are not trusted to choose ids that end up in your logs.
   *
   * @default true
   */
  trustIncoming?: boolean
  /**
   * Makes a new id. Its result must be a valid id as above; otherwise a UUID is used instead
   * (and a warning emitted once).
   *
   * @default uuid's v4 (random UUID)
   */
  generate?: () => string
}

/** Names of headers and query parameters, for `redact` and `allow`. */
export interface RedactionList {
  /** Header names (case-insensitive). */
  headers?: readonly string[]
  /** Query parameter names (case-insensitive; `user[password]` is matched as `password`). */
  query?: readonly string[]
}

/** Options of {@link logging}. Every option is checked when the layer is built. */
export interface LoggingOptions {
  /**
   * What a line looks like:
   * - `'combined'`, `'common'`, `'short'`, `'tiny'`, `'dev'`: morgan's formats, byte for byte
   *   (`dev` is coloured only when the sink is a TTY);
   * - `'json'`: one JSON object per line (`time`, `level`, `method`, `url`, `status`,
   *   `bytes`, `duration`, `remoteAddress`, `userAgent`, `referrer`, `requestId`, `aborted`,
   *   plus `traceId` and `err` when there is one);
   * - a format string with morgan's tokens, `':method :url :status :request-id'`;
   * - a function of a {@link LogRecord}.
   *
   * @default 'json' for a logger sink, 'combined' otherwise
   */
  format?: LoggingFormat
  /**
   * Where lines go: a writable stream (batched, with backpressure), a function
   * `(line, record) => void`, or a pino-style logger (`info`/`warn`/`error` by status
   * class; with the `json` format it receives the fields as an object).
   *
   * @default process.stdout
   */
  sink?: LoggingSink
  /**
   * Write the line when the request arrives instead of when the exchange ends: nothing about
   * the response is known then (status, bytes and times are `-`/`null`).
   *
   * @default false
   */
  immediate?: boolean
  /**
   * Return `true` to write no line for this exchange; called when the line would be written
   * (so it can read `res.statusCode`). Not consulted for a request that failed with a server
   * error while `errors` is on: logging has taken over reporting it.
   */
  skip?: (req: IncomingMessage, res: ServerResponse) => boolean
  /**
   * The request id: taken from `X-Request-Id` when valid, generated otherwise, sent back in
   * the response header, printed by `json` and `:request-id`, and read with
   * `getRequestId(req)`. `false` turns it off.
   *
   * @default true
   */
  requestId?: boolean | RequestIdOptions
  /**
   * Read the trace id of a valid W3C `traceparent` header (`json` prints it as `traceId`,
   * format strings as `:trace-id`, and `getTraceId(req)` returns it).
   *
   * @default true
   * @see https://www.w3.org/TR/trace-context/#traceparent-header
   */
  traceparent?: boolean
  /**
   * Which proxies are believed for the logged client address, as `trustProxy` from
   * @shallot/stack takes them: a hop count, a list of addresses/CIDR ranges (or
   * `'loopback'`, `'linklocal'`, `'uniquelocal'`), a function `(address, hop) => boolean`,
   * or `{ trust, header: 'forwarded' }`. Applies to this log only; a `trustProxy()` layer
   * placed before logging applies to every layer and is honoured without this option.
   *
   * @default undefined (the socket's address, or what a trustProxy() layer outside decided)
   */
  trustProxy?: TrustProxyOptions['trust'] | TrustProxyOptions
  /**
   * More names to hide, beside the defaults: headers `Authorization`,
   * `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-API-Key`, `X-Auth-Token`,
   * `X-CSRF-Token`, `X-XSRF-Token`; and secret-looking query parameters (see the README).
   */
  redact?: RedactionList
  /** Names to show even though they are hidden by default (e.g. `{ query: ['code'] }`). */
  allow?: RedactionList
  /**
   * Report the error the stack's error boundary caught for a request, once, with its real
   * stack trace, in the request's line (`err` in JSON; an error line after a text line;
   * `error` level for a logger), and keep the stack's default `console.error` silent for it.
   * Not available with `immediate`.
   *
   * @default true (false with immediate)
   */
  errors?: boolean
  /**
   * How many characters of lines may wait in memory while a stream applies backpressure;
   * beyond it lines are dropped, counted, and summarised by one line once the stream
   * drains. Lines are ASCII but for non-ASCII values, so this is about the byte count.
   *
   * @default 1048576
   */
  bufferSize?: number
  /**
   * How long, in milliseconds, lines wait to be written to a stream together: the first
   * line logged starts the wait, and the lines logged meanwhile join its write (64 KiB
   * waiting are written at once). A write costs far more than a line, so this is what keeps
   * a file log cheap; `0` writes on the next turn of the event loop. `flush()` writes at
   * once; lines still waiting when the process exits are written synchronously.
   *
   * @default 10
   */
  flushInterval?: number
  /**
   * Colour the `dev` format. By default: when the sink is a TTY and `NO_COLOR` is not set.
   *
   * @default undefined (auto)
   */
  color?: boolean
  /**
   * Tokens of your own for format strings: `{ user: (req) => getPrincipal(req)?.id }` makes
   * `:user`. Their values are escaped like every other token. Names override the built-in
   * tokens of the same name.
   */
  tokens?: Readonly<Record<string, TokenFunction>>
}

/** @internal */
export type SinkKind =
  | { kind: 'stream'; stream: LogStream }
  | { kind: 'function'; fn: SinkFunction<LogRecord> }
  | { kind: 'logger'; logger: LoggerLike }

/** @internal */
export interface Resolved {
  format: LoggingFormat
  sink: SinkKind
  immediate: boolean
  skip: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined
  requestId:
    | {
        /** As written in the options, for the response. */
        header: string
        /** Lower case, to read the request's header. */
        key: string
        trustIncoming: boolean
        generate: (() => string) | undefined
      }
    | undefined
  traceparent: boolean
  /** Resolves the client address through a trustProxy of this layer's own. */
  trust: Handler | undefined
  redaction: Redaction
  errors: boolean
  bufferSize: number
  flushInterval: number
  color: boolean
  tokens: Readonly<Record<string, TokenFunction>>
}

/** A value for an error message. */
export function show(value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/** Throws the start-up TypeError for a bad option. */
export function fail(name: string, message: string): never {
  throw new TypeError(`[@shallot/logging] option "${name}" ${message}`)
}

/** Options of the peers (morgan, pino-http, Hono) and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  stream: 'use "sink"',
  logger: 'use "sink", which takes a pino-style logger',
  buffer:
    'lines are always batched and written every "flushInterval" ms (10 by default); see "bufferSize"',
  genReqId: 'use "requestId: { generate }"',
  autoLogging: 'use "skip"',
  customLogLevel: 'levels follow the status class',
  serializers: 'use a format function',
  redactHeaders: 'use "redact: { headers }"',
  trustProxies: 'use "trustProxy"',
  colors: 'use "color"',
  colour: 'use "color"',
}

const KNOWN = [
  'format',
  'sink',
  'immediate',
  'skip',
  'requestId',
  'traceparent',
  'trustProxy',
  'redact',
  'allow',
  'errors',
  'bufferSize',
  'flushInterval',
  'color',
  'tokens',
]

const PREDEFINED = ['combined', 'common', 'short', 'tiny', 'dev', 'json']

// RFC 9110 token: a valid header name.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

function bool(options: LoggingOptions, name: keyof LoggingOptions, fallback: boolean): boolean {
  const v = options[name]
  if (v === undefined) return fallback
  if (typeof v !== 'boolean') fail(name, `must be a boolean, got ${show(v)}`)
  return v
}

function isFn(v: unknown): v is (...args: never[]) => unknown {
  return typeof v === 'function'
}

function resolveSink(value: unknown): SinkKind {
  if (value === undefined) return { kind: 'stream', stream: process.stdout }
  if (typeof value === 'function') {
    return { kind: 'function', fn: value as SinkFunction<LogRecord> }
  }
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>
    if (isFn(o.write) && isFn(o.on) && isFn(o.once)) {
      return { kind: 'stream', stream: value as LogStream }
    }
    if (isFn(o.info) && isFn(o.warn) && isFn(o.error)) {
      return { kind: 'logger', logger: value as LoggerLike }
    }
  }
  return fail(
    'sink',
    `must be a writable stream (write/on/once), a function (line, record) => void, or a logger with info/warn/error methods, got ${show(value)}`
  )
}

function nameList(option: string, value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) fail(option, `must be an array of names, got ${show(value)}`)
  return value.map((n: unknown) => {
    if (typeof n !== 'string' || !/^[!-~]+$/.test(n)) {
      fail(option, `must hold names (printable ASCII, no spaces), got ${show(n)}`)
    }
    return n.toLowerCase()
  })
}

function redactionList(
  option: 'redact' | 'allow',
  value: unknown
): { headers: string[]; query: string[] } {
  if (value === undefined) return { headers: [], query: [] }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      option,
      `must be an object { headers?: string[], query?: string[] }, got ${show(value)}${Array.isArray(value) ? " (pino's redact paths do not apply: name headers and query parameters)" : ''}`
    )
  }
  for (const key of Object.keys(value)) {
    if (key !== 'headers' && key !== 'query') {
      fail(option, `has an unknown key "${key}" (known: headers, query)`)
    }
  }
  const v = value as RedactionList
  return {
    headers: nameList(`${option}.headers`, v.headers),
    query: nameList(`${option}.query`, v.query),
  }
}

function resolveRequestId(value: unknown): Resolved['requestId'] {
  if (value === false) return undefined
  if (value === undefined || value === true) {
    return { header: 'X-Request-Id', key: 'x-request-id', trustIncoming: true, generate: undefined }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      'requestId',
      `must be a boolean or an object { header?, trustIncoming?, generate? }, got ${show(value)}`
    )
  }
  for (const key of Object.keys(value)) {
    if (!['header', 'trustIncoming', 'generate'].includes(key)) {
      fail('requestId', `has an unknown key "${key}" (known: header, trustIncoming, generate)`)
    }
  }
  const o = value as RequestIdOptions
  const header = o.header ?? 'X-Request-Id'
  if (typeof header !== 'string' || !TOKEN.test(header)) {
    fail('requestId.header', `must be a header name (an HTTP token), got ${show(header)}`)
  }
  const trustIncoming = o.trustIncoming ?? true
  if (typeof trustIncoming !== 'boolean') {
    fail('requestId.trustIncoming', `must be a boolean, got ${show(trustIncoming)}`)
  }
  if (o.generate !== undefined && typeof o.generate !== 'function') {
    fail('requestId.generate', `must be a function returning a string, got ${show(o.generate)}`)
  }
  return { header, key: header.toLowerCase(), trustIncoming, generate: o.generate }
}

let captured: string | undefined
/** The innermost handler of a layer's own trustProxy: reads the client it resolved. */
const capture: Handler = (req) => {
  captured = getClient(req).ip
}

/** The client address through `trust`, without changing what other layers see. @internal */
export function clientThrough(trust: Handler, req: IncomingMessage): string | undefined {
  // trustProxy() records its setting on the request it is given: give it a view of the
  // request (the prototype chain reads the real one), so that the setting stays local to
  // the log and inner layers keep theirs.
  // (`headers` is computed on the real request first, so the view reads it, not a copy.)
  if (req.headers === undefined) return undefined
  const view = Object.create(req) as IncomingMessage
  captured = undefined
  trust(view, undefined as unknown as ServerResponse)
  return captured
}

function resolveTrust(value: unknown): Handler | undefined {
  if (value === undefined || value === false) return undefined
  const opts = (
    typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { trust: value }
  ) as TrustProxyOptions
  try {
    return trustProxy(opts)(capture)
  } catch (err) {
    const why =
      err instanceof Error
        ? err.message.replace(/^\[@shallot\/stack\] trustProxy: /, '')
        : String(err)
    return fail('trustProxy', `is not valid for trustProxy(): ${why}`)
  }
}

/** Validates and resolves the options, once, at start-up. @internal */
export function resolveOptions(options: LoggingOptions | undefined): Resolved {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const hint =
      typeof options === 'string' || typeof options === 'function'
        ? ` (morgan's logging(format) is logging({ format: ${typeof options === 'string' ? JSON.stringify(options) : 'yourFunction'} }))`
        : ''
    throw new TypeError(`[@shallot/logging] options must be an object, got ${show(options)}${hint}`)
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      const hint = HINTS[key]
      throw new TypeError(
        `[@shallot/logging] unknown option "${key}"${hint === undefined ? ` (known: ${KNOWN.join(', ')})` : `: ${hint}`}`
      )
    }
  }
  const sink = resolveSink(options.sink)
  const format =
    options.format === undefined ? (sink.kind === 'logger' ? 'json' : 'combined') : options.format
  if (typeof format === 'string') {
    if (!PREDEFINED.includes(format) && !/:[-\w]{2,}/.test(format)) {
      fail(
        'format',
        `must be one of ${PREDEFINED.join(', ')}, a format string with :tokens, or a function, got ${show(format)}`
      )
    }
  } else if (typeof format !== 'function') {
    fail(
      'format',
      `must be one of ${PREDEFINED.join(', ')}, a format string with :tokens, or a function, got ${show(format)}`
    )
  }
  const immediate = bool(options, 'immediate', false)
  if (options.skip !== undefined && typeof options.skip !== 'function') {
    fail('skip', `must be a function (req, res) => boolean, got ${show(options.skip)}`)
  }
  const errors = bool(options, 'errors', !immediate)
  if (errors && immediate) {
    fail(
      'errors',
      'cannot be true with "immediate": true: a line written at arrival cannot hold the error (leave errors unset; the stack reports errors itself)'
    )
  }
  const bufferSize = options.bufferSize === undefined ? 1024 * 1024 : options.bufferSize
  if (typeof bufferSize !== 'number' || !Number.isSafeInteger(bufferSize) || bufferSize < 0) {
    fail('bufferSize', `must be a non-negative integer (characters), got ${show(bufferSize)}`)
  }
  const flushInterval = options.flushInterval === undefined ? 10 : options.flushInterval
  if (
    typeof flushInterval !== 'number' ||
    !Number.isInteger(flushInterval) ||
    flushInterval < 0 ||
    flushInterval > 60_000
  ) {
    fail('flushInterval', `must be an integer from 0 to 60000 (ms), got ${show(flushInterval)}`)
  }
  if (options.color !== undefined && typeof options.color !== 'boolean') {
    fail('color', `must be a boolean, got ${show(options.color)}`)
  }
  const stream = sink.kind === 'stream' ? sink.stream : undefined
  const noColor = (process.env.NO_COLOR ?? '') !== ''
  const color = options.color ?? (stream?.isTTY === true && !noColor)

  const tokens = options.tokens === undefined ? {} : options.tokens
  if (typeof tokens !== 'object' || tokens === null || Array.isArray(tokens)) {
    fail('tokens', `must be an object of token functions, got ${show(tokens)}`)
  }
  for (const [name, fn] of Object.entries(tokens)) {
    if (!/^[-\w]{2,}$/.test(name)) {
      fail('tokens', `has ${show(name)}: a token name is two or more of A-Z a-z 0-9 _ -`)
    }
    if (typeof fn !== 'function') fail('tokens', `has ":${name}", which is not a function`)
  }

  const redact = redactionList('redact', options.redact)
  const allow = redactionList('allow', options.allow)
  const headers = new Set([...DEFAULT_REDACTED_HEADERS, ...redact.headers])
  for (const h of allow.headers) headers.delete(h)
  const allowedQuery = new Set(allow.query)
  const names = new Set([...DEFAULT_REDACTED_QUERY, ...redact.query])
  for (const q of allowedQuery) names.delete(q)
  const query: QueryRedactor = { names, allowed: allowedQuery }

  return {
    format,
    sink,
    immediate,
    skip: options.skip,
    requestId: resolveRequestId(options.requestId),
    traceparent: bool(options, 'traceparent', true),
    trust: resolveTrust(options.trustProxy),
    redaction: { headers, query },
    errors,
    bufferSize,
    flushInterval,
    color,
    tokens,
  }
}
