import type { IncomingMessage, ServerResponse } from 'node:http'
import { bodiless, type Entry, type LogLevel, levelOf, sentStatus } from './entry.js'
import { REDACTED, redactUrl } from './redact.js'
import type { Redaction } from './tokens.js'

/**
 * One access-log entry, as given to a format function and to a function sink. Values are
 * raw (not escaped: a format function that builds a text line must escape them itself, or
 * let the layer escape the control characters of its line) but already redacted.
 */
export interface LogRecord {
  /** When the line was made, in milliseconds since the epoch (`Date.now()`). */
  readonly time: number
  /** `'request'` for a line written at arrival (`immediate`), `'response'` otherwise. */
  readonly phase: 'request' | 'response'
  /** `info` below 400, `warn` for 4xx and aborted exchanges, `error` for 5xx and server errors. */
  readonly level: LogLevel
  readonly method: string
  /** The request target as the client sent it, secret query values replaced by `[REDACTED]`. */
  readonly url: string
  /** `'1.1'`, `'1.0'`, `'2.0'`. */
  readonly httpVersion: string
  /** The status sent; undefined when no head was sent (aborted early, or `immediate`). */
  readonly status: number | undefined
  /**
   * Body bytes handed to Node for the response (after an inner compression layer, without
   * chunked framing); 0 for HEAD, 204 and 304; undefined at arrival.
   */
  readonly bytes: number | undefined
  /** Milliseconds from the request entering the layer to the end of the exchange; undefined at arrival. */
  readonly duration: number | undefined
  /** Milliseconds from the request entering the layer to the response head; undefined if no head. */
  readonly responseTime: number | undefined
  /** The client's address (see the `trustProxy` option). */
  readonly remoteAddress: string | undefined
  /** The user name of Basic credentials (decoded, as morgan's `:remote-user`). */
  readonly remoteUser: string | undefined
  readonly userAgent: string | undefined
  /** The `Referer` header, secret query values replaced by `[REDACTED]`. */
  readonly referrer: string | undefined
  readonly requestId: string | undefined
  /** The trace id of a valid W3C `traceparent` header. */
  readonly traceId: string | undefined
  /** The client closed the connection before the whole response was sent. */
  readonly aborted: boolean
  /** The error the stack's error boundary caught for this request (with `errors` on). */
  readonly error: Error | undefined
  /** A request header as the log may show it: redacted ones read `[REDACTED]`, lists are joined with `, `. */
  requestHeader(name: string): string | undefined
  /** A response header as the log may show it (undefined before the head is sent). */
  responseHeader(name: string): string | undefined
}

/** @internal */
export class AccessRecord implements LogRecord {
  readonly time: number
  readonly phase: 'request' | 'response'
  readonly level: LogLevel
  readonly method: string
  readonly url: string
  readonly httpVersion: string
  readonly status: number | undefined
  readonly bytes: number | undefined
  readonly duration: number | undefined
  readonly responseTime: number | undefined
  readonly remoteAddress: string | undefined
  readonly remoteUser: string | undefined
  readonly userAgent: string | undefined
  readonly referrer: string | undefined
  readonly requestId: string | undefined
  readonly traceId: string | undefined
  readonly aborted: boolean
  readonly error: Error | undefined
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #redaction: Redaction

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    e: Entry,
    immediate: boolean,
    redaction: Redaction,
    remoteAddress: string | undefined
  ) {
    this.#req = req
    this.#res = res
    this.#redaction = redaction
    this.time = e.time
    this.phase = immediate ? 'request' : 'response'
    this.level = immediate ? 'info' : levelOf(e, res)
    this.method = req.method ?? 'GET'
    this.url = redactUrl(e.url, redaction.query)
    this.httpVersion = req.httpVersion
    this.status = immediate ? undefined : sentStatus(res)
    this.bytes = immediate ? undefined : bodiless(req, res) ? 0 : e.bytes
    this.duration = immediate ? undefined : e.end - e.start
    this.responseTime = e.head < 0 ? undefined : e.head - e.start
    this.remoteAddress = remoteAddress
    this.remoteUser = basicUser(req.headers.authorization)
    this.userAgent = req.headers['user-agent']
    this.referrer = referrerOf(req, redaction)
    this.requestId = e.requestId
    this.traceId = e.traceId
    this.aborted = e.aborted
    this.error = e.error
  }

  requestHeader(name: string): string | undefined {
    return requestHeader(this.#req, String(name).toLowerCase(), this.#redaction)
  }

  responseHeader(name: string): string | undefined {
    return responseHeader(this.#res, String(name).toLowerCase(), this.#redaction)
  }
}

/** A request header's loggable value; `name` is lower case. @internal */
export function requestHeader(
  req: IncomingMessage,
  name: string,
  redaction: Redaction
): string | undefined {
  const value = req.headers[name]
  if (value === undefined) return undefined
  if (redaction.headers.has(name)) return REDACTED
  const text = Array.isArray(value) ? value.join(', ') : value
  return name === 'referer' ? redactUrl(text, redaction.query) : text
}

/** A response header's loggable value, once the head is sent; `name` is lower case. @internal */
export function responseHeader(
  res: ServerResponse,
  name: string,
  redaction: Redaction
): string | undefined {
  if (!res.headersSent) return undefined
  const value = res.getHeader(name)
  if (value === undefined) return undefined
  if (redaction.headers.has(name)) return REDACTED
  const text = Array.isArray(value) ? value.join(', ') : String(value)
  return name === 'location' || name === 'content-location'
    ? redactUrl(text, redaction.query)
    : text
}

/**
 * The referrer as morgan reads it (`Referer`, else the misspelt-correctly `Referrer`), with
 * its secret query values hidden. @internal
 */
export function referrerOf(req: IncomingMessage, redaction: Redaction): string | undefined {
  const h = req.headers
  const value = h.referer || (h.referrer as string | string[] | undefined)
  if (value === undefined || value === '') return undefined
  if (redaction.headers.has('referer')) return REDACTED
  return redactUrl(Array.isArray(value) ? value.join(', ') : value, redaction.query)
}

// basic-auth 2.0.1, which morgan uses for :remote-user.
const CREDENTIALS = /^ *(?:[Bb][Aa][Ss][Ii][Cc]) +([A-Za-z0-9._~+/-]+=*) *$/
const USER_PASS = /^([^:]*):(.*)$/

/** The user name of a Basic `Authorization` header, decoded exactly as morgan does (raw: escape it). */
export function basicUser(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const m = CREDENTIALS.exec(header)
  if (m === null) return undefined
  const userPass = USER_PASS.exec(Buffer.from(m[1] as string, 'base64').toString())
  return userPass === null ? undefined : userPass[1]
}
