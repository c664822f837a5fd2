import { type IncomingMessage, ServerResponse } from 'node:http'
import { kEntries } from './ids.js'

/** How serious a line is: by status class, errors and aborts. */
export type LogLevel = 'info' | 'warn' | 'error'

/**
 * What a logging layer keeps for one request, in one object with a fixed shape: set at
 * arrival, completed when the exchange ends. The outermost layer's entry is the request's
 * only logging property; the entries of nested layers are chained to it.
 * @internal
 */
export class Entry {
  /** The layer that made it. */
  readonly owner: object
  /** The entry of the next logging layer inside, if any. */
  inner: Entry | undefined = undefined
  requestId: string | undefined = undefined
  traceId: string | undefined = undefined
  /** performance.now() at arrival, at the head, at the end (-1: not yet). */
  readonly start: number
  head = -1
  end = -1
  /** Date.now() when the line is made. */
  time = 0
  /** The request target as the client sent it (not redacted, not escaped). */
  readonly url: string
  /** Body bytes handed to Node (counted only when a format needs them). */
  bytes = 0
  aborted = false
  /** The error the stack's boundary caught, when errors are logged. */
  error: Error | undefined = undefined
  /** Its status: 500 for an error that asks for none. */
  errorStatus = 0
  /** The remote address, once computed. */
  remote: string | undefined = undefined

  constructor(owner: object, start: number, url: string) {
    this.owner = owner
    this.start = start
    this.url = url
  }
}

/** The status sent, or undefined when no head went out. */
export function sentStatus(res: ServerResponse): number | undefined {
  return res.headersSent ? res.statusCode : undefined
}

/** The level of a finished exchange. */
export function levelOf(e: Entry, res: ServerResponse): LogLevel {
  if (e.error !== undefined && e.errorStatus >= 500) return 'error'
  const status = res.headersSent ? res.statusCode : 0
  if (status >= 500) return 'error'
  if (e.aborted || status >= 400) return 'warn'
  return 'info'
}

/** Whether the body of this exchange is empty by definition (bytes written are discarded). */
export function bodiless(req: IncomingMessage, res: ServerResponse): boolean {
  const s = res.statusCode
  return req.method === 'HEAD' || s === 204 || s === 304 || (s >= 100 && s < 200)
}

type Counted = IncomingMessage & { [kEntries]?: Entry }
type Method = (this: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown) => unknown

function sizeOf(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') {
    return Buffer.byteLength(
      chunk,
      typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'
    )
  }
  if (chunk instanceof Uint8Array) return chunk.byteLength
  return 0
}

/** Marks the prototype once its methods count, across copies of this package. */
const kCounting: unique symbol = Symbol.for('shallot.logging.countsBytes')

/**
 * Counts the body bytes of responses whose request a logging layer keeps an entry for, by
 * wrapping `ServerResponse.prototype.write` and `.end` once (as the stack hooks `writeHead`
 * on the prototype): no property is added to a response, which costs far more per request
 * (measured: about 1 µs) than the check these wrappers make. A wrapper another library
 * puts on a response (compression) calls these, so compressed bytes are counted.
 * @internal
 */
export function installByteCounter(): void {
  const proto = ServerResponse.prototype as ServerResponse & { [kCounting]?: true }
  if (proto[kCounting] === true) return
  const write = proto.write as unknown as Method
  const end = proto.end as unknown as Method
  const count = (res: ServerResponse, chunk: unknown, encoding: unknown): void => {
    let e = (res.req as Counted | undefined)?.[kEntries]
    if (e === undefined) return
    const n = sizeOf(chunk, encoding)
    for (; e !== undefined; e = e.inner) e.bytes += n
  }
  proto.write = function write_(
    this: ServerResponse,
    chunk: unknown,
    encoding?: unknown,
    cb?: unknown
  ) {
    const ended = this.writableEnded
    const ok = write.call(this, chunk, encoding, cb)
    if (!ended) count(this, chunk, encoding)
    return ok
  } as unknown as ServerResponse['write']
  proto.end = function end_(
    this: ServerResponse,
    chunk?: unknown,
    encoding?: unknown,
    cb?: unknown
  ) {
    const ended = this.writableEnded
    const out = end.call(this, chunk, encoding, cb)
    if (!ended && typeof chunk !== 'function') count(this, chunk, encoding)
    return out
  } as unknown as ServerResponse['end']
  proto[kCounting] = true
}
