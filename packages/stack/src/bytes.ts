import { ServerResponse } from 'node:http'

const kBodyBytes: unique symbol = Symbol.for('shallot.bodyBytes')
const kInstalled: unique symbol = Symbol.for('shallot.bodyBytes.installed')

interface Counted extends ServerResponse {
  [kBodyBytes]?: number
}

type Method = (this: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown) => unknown

function sizeOf(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') {
    return Buffer.byteLength(
      chunk,
      typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'
    )
  }
  return chunk instanceof Uint8Array ? chunk.byteLength : 0
}

/**
 * Wraps `ServerResponse.prototype.write` and `.end` once per process (and once across copies
 * of this package), as `onHeaders` hooks `writeHead`: responses nobody counts pay one
 * property lookup, and a counted one carries a single number, with no function patched on
 * it. A wrapper another library puts on a response (compression's) calls through these, so
 * what is counted is what goes to the socket.
 */
function install(): void {
  const proto = ServerResponse.prototype as ServerResponse & { [kInstalled]?: true }
  if (proto[kInstalled] === true) return
  const write = proto.write as unknown as Method
  const end = proto.end as unknown as Method
  proto.write = function write_(this: Counted, chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (this[kBodyBytes] === undefined || this.writableEnded)
      return write.call(this, chunk, encoding, cb)
    const ok = write.call(this, chunk, encoding, cb)
    this[kBodyBytes] = (this[kBodyBytes] as number) + sizeOf(chunk, encoding)
    return ok
  } as unknown as ServerResponse['write']
  proto.end = function end_(this: Counted, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (this[kBodyBytes] === undefined || this.writableEnded)
      return end.call(this, chunk, encoding, cb)
    const out = end.call(this, chunk, encoding, cb)
    // Read again: a wrapper inside end() may have counted writes of its own meanwhile.
    this[kBodyBytes] = (this[kBodyBytes] as number) + sizeOf(chunk, encoding)
    return out
  } as unknown as ServerResponse['end']
  proto[kInstalled] = true
}

/**
 * Starts counting the body bytes of this response: the bytes of every chunk given to
 * `res.write`/`res.end` from now on (after any compression layer inside, so the bytes sent).
 * Read them with {@link getBodyBytes} when the exchange is over. Idempotent: several layers
 * (an access log, metrics) share one count. HEAD, 204 and 304 bodies are discarded by Node:
 * the caller decides what they count as.
 */
export function countBodyBytes(res: ServerResponse): void {
  const r = res as Counted
  if (r[kBodyBytes] !== undefined) return
  install()
  r[kBodyBytes] = 0
}

/** The body bytes counted since {@link countBodyBytes}, or undefined if nobody counts them. */
export function getBodyBytes(res: ServerResponse): number | undefined {
  return (res as Counted)[kBodyBytes]
}
