import type { IncomingMessage, ServerResponse } from 'node:http'
import { appendVary, type Handler, type Middleware, onHeaders } from '@shallot/stack'
import connectCompression from 'compression'
import { negotiate } from './negotiate.js'
import {
  type CompressionFilter,
  type CompressionOptions,
  type Resolved,
  resolveOptions,
} from './options.js'

/** The Connect middleware of the `compression` package, typed for what we use of it. */
type ConnectFactory = (
  options: object
) => (req: IncomingMessage, res: ServerResponse, next: () => void) => void
const createConnectCompression = connectCompression as unknown as ConnectFactory
/** `compression.filter`: a compressible `Content-Type` (mime-db, through `compressible`). */
const compressibleType = (connectCompression as unknown as { filter: CompressionFilter }).filter

type WriteHead = ServerResponse['writeHead']
type Callback = (err?: Error | null) => void
type Write = (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) => boolean
type End = (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) => unknown

/** Where `flush(res)` finds the compressor's flush of the innermost compression layer. */
const kFlush: unique symbol = Symbol('shallot.compression.flush')

interface Flushable extends ServerResponse {
  [kFlush]?: () => void
}

/**
 * The default `filter`: whether the response's `Content-Type` is one that compresses, by
 * mime-db's `compressible` flag (`text/*`, JSON, JavaScript, XML, SVG, ...), through the
 * `compression` package's own filter. A response without `Content-Type` is not compressed.
 *
 * @example
 * ```ts
 * compression({ filter: (req, res) => !res.hasHeader('x-no-compression') && defaultFilter(req, res) })
 * ```
 */
export function defaultFilter(req: IncomingMessage, res: ServerResponse): boolean {
  return compressibleType(req, res)
}

/**
 * Sends what the compressor holds so far to the client: call it after writing a piece of a
 * streamed response (a server-sent event, an NDJSON line, a progress update) that must
 * arrive now. Without it the compressor keeps small writes until it has a full block or
 * the response ends. Does nothing when the response is not being compressed, or when no
 * `compression()` layer is in front of it. `res.flush()`, which the `compression` package
 * adds to each response, does the same for code ported from Express.
 */
export function flush(res: ServerResponse): void {
  const fn = (res as Flushable)[kFlush]
  if (fn !== undefined) fn.call(res)
}

const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i
const EVENT_STREAM = /^\s*text\/event-stream\s*(?:;|$)/i

function header(res: ServerResponse, name: string): string | undefined {
  const value = res.getHeader(name)
  if (value === undefined) return undefined
  return Array.isArray(value) ? value.join(', ') : String(value)
}

/** `Cache-Control: no-transform` (RFC 9111 §5.2.2.6): intermediaries must not re-encode. */
function noTransform(res: ServerResponse): boolean {
  const cc = header(res, 'cache-control')
  return cc !== undefined && NO_TRANSFORM.test(cc)
}

function isEventStream(res: ServerResponse): boolean {
  const type = header(res, 'content-type')
  return type !== undefined && EVENT_STREAM.test(type)
}

function hasCoding(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value.toLowerCase() !== 'identity'
}

/**
 * What a compressed response must not carry unchanged: a strong ETag (it names the bytes
 * of the uncompressed representation: RFC 9110 §8.8.3) becomes weak, and `Accept-Ranges`
 * goes (ranges of a body compressed on the fly cannot be served).
 */
function describeCompressed(res: ServerResponse): void {
  const etag = res.getHeader('etag')
  if (typeof etag === 'string' && etag.startsWith('"')) res.setHeader('ETag', `W/${etag}`)
  res.removeHeader('accept-ranges')
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null) return 0
  if (typeof chunk === 'string') {
    return Buffer.byteLength(
      chunk,
      typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'
    )
  }
  return ArrayBuffer.isView(chunk) ? chunk.byteLength : 0
}

/** The per-request state, on the response under the layer's own symbol. */
class Exchange {
  /** compression's `writeHead` wrapper: running it runs compression's head-time decision. */
  decide: WriteHead | undefined = undefined
  /** compression's `res.write` / `res.end`, which ours call. */
  write: Write | undefined = undefined
  end: End | undefined = undefined
  flush: (() => void) | undefined = undefined
  /** Byte length of a body given whole to `res.end` before the head, as Node computes it. */
  length: number | undefined = undefined
  /** Whether our filter let the response through (and negotiated). */
  allowed = false
  /** The coding negotiated, if `allowed`. */
  chosen: string | undefined = undefined
  /** Accept-Encoding as the client sent it, while the negotiated coding is in its place. */
  swapped = false
  acceptEncoding: string | string[] | undefined = undefined
  /** Flush after every write: a compressed event stream. */
  autoFlush = false

  constructor(readonly req: IncomingMessage) {}

  restoreAcceptEncoding(): void {
    if (!this.swapped) return
    this.swapped = false
    const { headers } = this.req
    if (this.acceptEncoding === undefined) delete headers['accept-encoding']
    else headers['accept-encoding'] = this.acceptEncoding as string
  }
}

/** Stands in for writeHead below compression's wrapper, so that running it writes nothing. */
function noWriteHead(this: ServerResponse): ServerResponse {
  return this
}

/** The layer for resolved options `o`. */
function build(o: Resolved): Middleware {
  // Per layer, so that two compression layers on one response keep their own state.
  const kState = Symbol('shallot.compression')
  type Stateful = ServerResponse & { [kState]?: Exchange }
  const stateOf = (res: ServerResponse): Exchange | undefined => (res as Stateful)[kState]

  const passes = (req: IncomingMessage, res: ServerResponse): boolean =>
    o.filter === undefined ? compressibleType(req, res) : o.filter(req, res) === true

  /** Whether the 200 to this request would vary on Accept-Encoding. */
  const wouldVary = (req: IncomingMessage, res: ServerResponse): boolean =>
    !noTransform(res) && passes(req, res)

  /**
   * A 304 answers a conditional request; its ETag must be the one the client holds. The
   * client holds `W/"x"` when we compressed the 200: the application, comparing weakly as
   * If-None-Match requires, answers 304 with its strong `"x"`, which we weaken again.
   */
  function notModified(req: IncomingMessage, res: ServerResponse): void {
    const etag = res.getHeader('etag')
    const inm = req.headers['if-none-match']
    let weakened = false
    if (typeof etag === 'string' && etag.startsWith('"') && inm?.includes(`W/${etag}`)) {
      if (!noTransform(res)) {
        res.setHeader('ETag', `W/${etag}`)
        weakened = true
      }
    }
    if (weakened || wouldVary(req, res)) appendVary(res, 'Accept-Encoding')
  }

  /**
   * The filter given to the `compression` package: it runs first in its head-time decision,
   * with the final status and headers. Ours refuses what compression would get wrong, then
   * asks the user's filter, then negotiates and puts the chosen coding in place of the
   * request's Accept-Encoding for compression's own negotiator to find (restored right after).
   */
  function filter(req: IncomingMessage, res: ServerResponse): boolean {
    const x = stateOf(res)
    if (x === undefined) return false
    const status = res.statusCode
    if (status === 304) {
      notModified(req, res)
      return false
    }
    if (status < 200 || status === 204) return false
    // A range of the identity representation: compressing it would make the offsets lie
    // (expressjs/compression#185). Vary as the 200 would (RFC 9110 §15.3.7).
    if (status === 206 || res.hasHeader('content-range')) {
      if (wouldVary(req, res)) appendVary(res, 'Accept-Encoding')
      return false
    }
    if (!o.compressEventStream && isEventStream(res)) return false
    if (!passes(req, res)) return false
    x.allowed = true
    const chosen = negotiate(req.headers['accept-encoding'], o.encodings)
    x.chosen = chosen
    x.acceptEncoding = req.headers['accept-encoding']
    x.swapped = true
    req.headers['accept-encoding'] = chosen ?? 'identity'
    return true
  }

  const connect = createConnectCompression({ ...o.zlib, threshold: o.threshold, filter })

  /** Our onHeaders listener: runs compression's decision here, then fixes what it leaves. */
  function decideAtHead(res: ServerResponse): void {
    const x = stateOf(res)
    if (x === undefined || x.decide === undefined) return
    const decide = x.decide
    x.decide = undefined
    const before = header(res, 'content-encoding')
    try {
      decide.call(res, res.statusCode)
    } finally {
      x.restoreAcceptEncoding()
    }
    const after = header(res, 'content-encoding')
    if (after !== before) {
      // compression compressed.
      describeCompressed(res)
      if (o.compressEventStream && isEventStream(res)) x.autoFlush = true
      return
    }
    const { req } = x
    const status = res.statusCode
    if (req.method === 'HEAD') {
      // compression never touches HEAD; answer with the headers GET would get (RFC 9110 §9.3.2).
      if (x.allowed && x.chosen !== undefined && !hasCoding(before) && !noTransform(res)) {
        const cl = res.getHeader('content-length')
        const size = cl === undefined ? x.length : Number(cl)
        if (size === undefined || !(size < o.threshold)) {
          res.setHeader('Content-Encoding', x.chosen)
          res.removeHeader('content-length')
          describeCompressed(res)
        }
      }
      return
    }
    // Not compressed: compression wrote the head before Node could count the body of
    // `res.end(body)`, which would go out chunked. Give it the Content-Length Node would.
    if (
      x.length !== undefined &&
      status >= 200 &&
      status !== 204 &&
      status !== 304 &&
      !res.hasHeader('content-length') &&
      !res.hasHeader('transfer-encoding')
    ) {
      res.setHeader('Content-Length', x.length)
    }
  }

  // res.write and res.end over compression's, fixing callbacks (which it drops or chokes
  // on) and adding the automatic flush of compressed event streams.
  function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const x = stateOf(this) as Exchange
    if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    const ok = (x.write as Write).call(this, chunk, encoding)
    if (x.autoFlush) (x.flush as () => void).call(this)
    if (typeof cb === 'function') {
      if (ok) process.nextTick(cb as Callback)
      else this.once('drain', () => (cb as Callback)())
    }
    return ok
  }

  function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): unknown {
    const x = stateOf(this) as Exchange
    if (typeof chunk === 'function') {
      cb = chunk
      chunk = undefined
      encoding = undefined
    } else if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    if (!this.headersSent && x.length === undefined) x.length = byteLength(chunk, encoding)
    if (typeof cb === 'function') this.once('finish', () => (cb as Callback)())
    ;(x.end as End).call(this, chunk, encoding)
    return this
  }

  return function compressionMiddleware(next: Handler): Handler {
    return function compression(req, res) {
      const x = new Exchange(req)
      ;(res as Stateful)[kState] = x
      // Registered before any inner layer's listener, so it runs after all of them (they see
      // nothing of compression; compression sees everything they set) and before the outer ones.
      onHeaders(res, decideAtHead)
      // compression wraps res.writeHead (on-headers) to decide when the head is written. Give
      // it a writeHead that writes nothing to wrap, keep its wrapper, and put ours back: the
      // decision then runs in decideAtHead, in the order of the stack's onHeaders listeners.
      const writeHead = res.writeHead
      res.writeHead = noWriteHead as WriteHead
      let result: void | Promise<void> | undefined
      try {
        connect(req, res, () => {
          if (res.writeHead !== noWriteHead) x.decide = res.writeHead
          res.writeHead = writeHead
          x.write = res.write as Write
          x.end = res.end as End
          const flushCompressor = (res as ServerResponse & { flush?: () => void }).flush
          x.flush = flushCompressor
          ;(res as Flushable)[kFlush] = flushCompressor
          res.write = write as ServerResponse['write']
          res.end = end as ServerResponse['end']
          result = next(req, res)
        })
      } finally {
        if (res.writeHead === noWriteHead) res.writeHead = writeHead
      }
      return result
    }
  }
}

/**
 * Compresses responses with brotli, gzip or deflate as the client's `Accept-Encoding`
 * allows, over the `compression` package, and fixes what it gets wrong: partial (206) and
 * bodiless responses are never compressed, a strong `ETag` is weakened on a compressed body,
 * `text/event-stream` is streamed event by event, HEAD gets GET's headers, callbacks of
 * `res.write`/`res.end` are called, and the decision is taken in the stack's `onHeaders`
 * order, so it sees what inner layers set at head time.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/compression#readme
 * @example
 * ```ts
 * const app = stack(logging(), compression({ threshold: 1024 }), cors())(handler)
 * ```
 */
export function compression(options?: CompressionOptions): Middleware {
  return build(resolveOptions(options))
}
