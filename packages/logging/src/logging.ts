import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  beforePathCheck,
  claimErrorReport,
  countBodyBytes,
  type FinishedListener,
  getBodyBytes,
  getClient,
  getError,
  getOriginalUrl,
  type Handler,
  type HeadersListener,
  type Middleware,
  onFinished,
  onHeaders,
} from '@shallot/stack'
import { bodiless, Entry, type LogLevel, levelOf, sentStatus } from './entry.js'
import { escapeLine } from './escape.js'
import { clfFormat, devFormat, errorLine, errorType, FORMATS, jsonFormat } from './formats.js'
import { kEntries, parseTraceparent, REQUEST_ID } from './ids.js'
import {
  clientThrough,
  type FormatFunction,
  fail,
  type LoggingOptions,
  resolveOptions,
} from './options.js'
import { AccessRecord, referrerOf } from './record.js'
import { redactUrl } from './redact.js'
import { callLogger, callSink, flushLogger, Health, type LoggingStats, StreamSink } from './sink.js'
import {
  compileFormat,
  FormatError,
  type LineFormat,
  type Needs,
  type TokenContext,
} from './tokens.js'
import { randomId } from './uuid.js'

/** The middleware `logging()` returns, with the handle to its sink. */
export interface LoggingMiddleware extends Middleware {
  /**
   * Hands every buffered line to the sink and resolves once a stream has written them (after
   * a slow stream drained) or a logger's own `flush` is done. Call it on graceful shutdown,
   * after the server stopped taking requests. Lines logged meanwhile are included.
   */
  flush(): Promise<void>
  /**
   * `flush()`, then stop: lines logged afterwards are dropped and counted. A stream sink is
   * ended (`end()`), except `process.stdout` and `process.stderr`.
   */
  close(): Promise<void>
  /** The layer's counters: lines written, dropped and waiting, and sink failures. */
  stats(): LoggingStats
}

type Slot = IncomingMessage & { [kEntries]?: Entry }

/** The status an error asks for, as the stack's boundary reads it; 500 by default. */
function statusOf(err: Error): number {
  const e = err as { status?: unknown; statusCode?: unknown }
  const s = typeof e.status === 'number' ? e.status : e.statusCode
  return typeof s === 'number' && Number.isInteger(s) && s >= 400 && s <= 599 ? s : 500
}

/** Reads the socket's peer address now, while the socket is open (Node caches it). */
function warmPeer(req: IncomingMessage): string | undefined {
  return req.socket?.remoteAddress
}

/** The logged target: Express's `originalUrl`, else the target before the stack canonicalised it. */
function urlOf(req: IncomingMessage): string {
  const original = (req as { originalUrl?: unknown }).originalUrl
  return typeof original === 'string' ? original : getOriginalUrl(req)
}

/** What a logger sink receives as the message with the `json` format. */
function messageOf(e: Entry, immediate: boolean): string {
  if (immediate) return 'request received'
  if (e.error !== undefined && e.errorStatus >= 500) return 'request errored'
  return e.aborted ? 'request aborted' : 'request completed'
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000
}

/**
 * An access log for Node request listeners: morgan's formats (byte for byte) or JSON lines,
 * to a stream, a function or a pino-style logger; with request ids (X-Request-Id and W3C
 * traceparent), secrets redacted, every value escaped, the stack's errors reported once with
 * their stack trace, and a stream sink that batches, honours backpressure with a bounded
 * buffer and never drops a line without counting it.
 *
 * Put it first in the stack, so that it sees every response, the error responses included.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/logging#readme
 * @example
 * ```ts
 * const log = logging({ format: 'combined', sink: fs.createWriteStream('access.log', { flags: 'a' }) })
 * const app = stack(log, cors(), session({ secret }))(handler)
 * process.on('SIGTERM', () => server.close(() => log.close()))
 * ```
 */
export function logging(options?: LoggingOptions): LoggingMiddleware {
  const o = resolveOptions(options)
  const health = new Health()
  /** Identifies this layer's entry in a request's chain. */
  const owner = {}
  const entryOf = (req: IncomingMessage): Entry | undefined => {
    let e = (req as Slot)[kEntries]
    while (e !== undefined && e.owner !== owner) e = e.inner
    return e
  }
  const needs: Needs = { head: false, remote: false, bytes: false, time: false }
  const { trust, immediate, redaction } = o

  function remote(req: IncomingMessage, e: Entry): string | undefined {
    if (e.remote === undefined) {
      e.remote = (trust === undefined ? getClient(req).ip : clientThrough(trust, req)) ?? ''
    }
    return e.remote === '' ? undefined : e.remote
  }
  const ctx: TokenContext = { redaction, remote, custom: o.tokens }

  // The format, compiled once.
  let line: LineFormat | undefined
  let userFormat: FormatFunction | undefined
  const json = o.format === 'json'
  try {
    if (typeof o.format === 'function') userFormat = o.format
    else if (json) line = jsonFormat(ctx, needs, immediate, levelOf)
    else if (o.format === 'dev') line = devFormat(ctx, needs, o.color)
    else if (o.format === 'combined' || o.format === 'common') {
      const name = o.format as 'combined' | 'common'
      line = clfFormat(name, ctx, needs) ?? compileFormat(FORMATS[name], ctx, needs)
    } else {
      const predefined = Object.hasOwn(FORMATS, o.format)
        ? FORMATS[o.format as keyof typeof FORMATS]
        : undefined
      line = compileFormat(predefined ?? o.format, ctx, needs)
    }
  } catch (err) {
    if (err instanceof FormatError) fail('format', err.message)
    throw err
  }
  const sink = o.sink
  const needsRecord = userFormat !== undefined || sink.kind === 'function'
  if (needsRecord || (sink.kind === 'logger' && json)) {
    needs.remote = true
    needs.bytes = true
    needs.head = true
    needs.time = true
  }

  const record = (req: IncomingMessage, res: ServerResponse, e: Entry): AccessRecord =>
    new AccessRecord(req, res, e, immediate, redaction, remote(req, e))

  /** The text of the line: the format's, or the user function's with its controls escaped. */
  function text(
    req: IncomingMessage,
    res: ServerResponse,
    e: Entry,
    rec: AccessRecord | undefined
  ): string | undefined {
    if (userFormat === undefined) return (line as LineFormat)(req, res, e)
    const out = userFormat(rec ?? record(req, res, e), req, res)
    if (out === null || out === undefined) return undefined
    if (typeof out !== 'string') {
      throw new TypeError(`the format function returned ${typeof out}, not a string`)
    }
    return escapeLine(out)
  }

  const serverError = (e: Entry): boolean => e.error !== undefined && e.errorStatus >= 500

  // How an entry reaches the sink, decided once.
  let emit: (req: IncomingMessage, res: ServerResponse, e: Entry) => void
  let stream: StreamSink | undefined
  let closed = false
  if (sink.kind === 'stream') {
    const out = new StreamSink(sink.stream, health, o.bufferSize, json, o.flushInterval)
    stream = out
    emit = (req, res, e) => {
      const t = text(req, res, e, undefined)
      if (t === undefined) return
      if (!json && serverError(e)) out.text(`${t}\n${errorLine(req, e, ctx)}`, 2)
      else out.text(t, 1)
    }
  } else if (sink.kind === 'function') {
    const fn = sink.fn
    emit = (req, res, e) => {
      const rec = record(req, res, e)
      const t = text(req, res, e, rec)
      if (t === undefined) return
      if (closed) lostAfterClose()
      else callSink(fn, health, t, rec)
    }
  } else {
    const logger = sink.logger
    emit = (req, res, e) => {
      const level: LogLevel = immediate ? 'info' : levelOf(e, res)
      if (closed) {
        lostAfterClose()
        return
      }
      if (json && userFormat === undefined) {
        callLogger(logger, health, level, fields(req, res, e), messageOf(e, immediate))
        return
      }
      const t = text(req, res, e, undefined)
      if (t === undefined) return
      callLogger(logger, health, level, e.error === undefined ? undefined : { err: errOf(e) }, t)
    }
  }

  function lostAfterClose(): void {
    health.dropped++
    health.warn(
      'SHALLOT_LOGGING_CLOSED',
      'a line was logged after close(): it is dropped (counted in stats().dropped)'
    )
  }

  /** A server error as itself (loggers serialise its stack); a refusal (4xx) without its stack. */
  function errOf(e: Entry): Error | { type: string; message: string } {
    const err = e.error as Error
    return serverError(e) ? err : { type: errorType(err), message: String(err.message) }
  }

  /** The `json` fields as an object, for a logger (which adds its own time and level). */
  function fields(req: IncomingMessage, res: ServerResponse, e: Entry): object {
    const out: { [key: string]: unknown } = {
      method: req.method,
      url: redactUrl(e.url, redaction.query),
      status: immediate ? null : (sentStatus(res) ?? null),
      bytes: immediate ? null : bodiless(req, res) ? 0 : e.bytes,
      duration: immediate ? null : round3(e.end - e.start),
      remoteAddress: remote(req, e) ?? null,
      userAgent: req.headers['user-agent'] ?? null,
      referrer: referrerOf(req, redaction) ?? null,
      requestId: e.requestId ?? null,
      aborted: e.aborted,
    }
    if (e.traceId !== undefined) out.traceId = e.traceId
    if (e.error !== undefined) out.err = errOf(e)
    return out
  }

  function log(req: IncomingMessage, res: ServerResponse, e: Entry): void {
    const skip = o.skip
    if (skip !== undefined && !serverError(e)) {
      let skipped = false
      try {
        skipped = Boolean(skip(req, res))
      } catch (err) {
        health.fault('SHALLOT_LOGGING_SKIP_ERROR', 'skip() threw (the line is written)', err)
      }
      if (skipped) return
    }
    e.time = Date.now()
    try {
      emit(req, res, e)
    } catch (err) {
      health.dropped++
      health.fault('SHALLOT_LOGGING_FORMAT_ERROR', 'the format threw (the line is dropped)', err)
    }
  }

  const finished: FinishedListener = (err, res) => {
    const req = res.req
    const e = entryOf(req)
    if (e === undefined) return
    if (timed) e.end = performance.now()
    if (countBytes) e.bytes = getBodyBytes(res) ?? 0
    e.aborted = err !== null
    if (o.errors) {
      const error = getError(req)
      if (error !== undefined) {
        e.error = error
        e.errorStatus = statusOf(error)
      }
    }
    log(req, res, e)
  }

  const markHead: HeadersListener = (res) => {
    const e = entryOf(res.req)
    if (e !== undefined) e.head = performance.now()
  }

  // The request id goes on the response as its head is written, not on arrival: a framework
  // that clears the headers before its error page (Koa) cannot lose it. An id the
  // application set itself is kept.
  const idHeader = o.requestId?.header ?? ''
  // Node lower-cases the name hasHeader is given: a lower-case one is not copied again.
  const idHeaderKey = idHeader.toLowerCase()
  const sendId: HeadersListener = (res) => {
    const id = (res.req as Slot)[kEntries]?.requestId
    if (id !== undefined && !res.hasHeader(idHeaderKey)) res.setHeader(idHeader, id)
  }
  const sendIdAndMarkHead: HeadersListener = (res) => {
    sendId(res)
    markHead(res)
  }

  const ids = o.requestId
  const generate = ids?.generate
  function newId(): string {
    if (generate === undefined) return randomId()
    let id: unknown
    try {
      id = generate()
    } catch (err) {
      health.fault('SHALLOT_LOGGING_REQUEST_ID', 'requestId.generate() threw (a UUID is used)', err)
      return randomId()
    }
    if (typeof id === 'string' && REQUEST_ID.test(id)) return id
    health.warn(
      'SHALLOT_LOGGING_REQUEST_ID',
      `requestId.generate() returned ${typeof id === 'string' ? JSON.stringify(id.slice(0, 40)) : typeof id}, not 1 to 128 of A-Z a-z 0-9 - _ . : + = /: a UUID is used instead`
    )
    return randomId()
  }

  const traceparent = o.traceparent
  const trackIds = ids !== undefined || traceparent

  /**
   * Ids are the outermost layer's: a nested layer copies them, or fills in what it lacks.
   * True when this layer took or made the request id, and so sends it.
   */
  function assignIds(req: IncomingMessage, e: Entry, first: Entry): boolean {
    let sends = false
    if (ids !== undefined && first.requestId === undefined) {
      const incoming = ids.trustIncoming ? req.headers[ids.key] : undefined
      first.requestId =
        typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newId()
      sends = true
    }
    if (traceparent && first.traceId === undefined) {
      first.traceId = parseTraceparent(req.headers.traceparent)
    }
    if (first !== e) {
      e.requestId = first.requestId
      e.traceId = first.traceId
    }
    return sends
  }

  const { head: hookHead, remote: hookRemote } = needs
  const countBytes = needs.bytes
  const timed = needs.time
  const errors = o.errors

  const middleware = function loggingMiddleware(next: Handler): Handler {
    return function logging(req, res) {
      const slot = req as Slot
      const e = new Entry(owner, timed ? performance.now() : -1, urlOf(req))
      let first = slot[kEntries]
      if (first === undefined) {
        slot[kEntries] = e
        first = e
      } else {
        // Another logging layer outside: chain to its entry. This very layer met twice
        // (mounted twice): one line.
        let last = first
        for (;;) {
          if (last.owner === owner) return next(req, res)
          if (last.inner === undefined) break
          last = last.inner
        }
        last.inner = e
      }
      const sendsId = trackIds && assignIds(req, e, first)
      if (countBytes) countBodyBytes(res)
      if (immediate) {
        if (sendsId) onHeaders(res, sendId)
        log(req, res, e)
        return next(req, res)
      }
      if (hookRemote) warmPeer(req)
      if (errors) claimErrorReport(req)
      if (sendsId) onHeaders(res, hookHead ? sendIdAndMarkHead : sendId)
      else if (hookHead) onHeaders(res, markHead)
      onFinished(res, finished)
      return next(req, res)
    }
  }

  // Placed first in a stack, it sees (and logs) the requests the stack refuses with a 400.
  return Object.assign(beforePathCheck(middleware), {
    flush(): Promise<void> {
      if (stream !== undefined) return stream.flush()
      if (sink.kind === 'logger') return flushLogger(sink.logger)
      return Promise.resolve()
    },
    async close(): Promise<void> {
      if (stream !== undefined) await stream.close()
      else if (sink.kind === 'logger') await flushLogger(sink.logger)
      closed = true
    },
    stats(): LoggingStats {
      return {
        written: health.written,
        dropped: health.dropped,
        buffered: stream?.buffered ?? 0,
        errors: health.errors,
      }
    },
  })
}
