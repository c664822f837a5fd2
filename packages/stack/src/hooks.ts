import { type OutgoingHttpHeaders, ServerResponse } from 'node:http'

type WriteHead = ServerResponse['writeHead']
type PlainWriteHead = (this: ServerResponse, statusCode: number, reason?: string) => ServerResponse

/** Called once, just before the response head is written. May still set headers and `res.statusCode`. */
export type HeadersListener = (res: ServerResponse) => void
/**
 * Called once when the exchange is over. `err` is `null` when the response was completely
 * handed to the OS, otherwise an Error saying why it ended early (client abort, socket error).
 */
export type FinishedListener = (err: Error | null, res: ServerResponse) => void

/** Reports an error thrown by a listener; set per response by the stack's boundary. @internal */
export type ListenerErrorSink = (err: unknown, res: ServerResponse) => void

const kHeadersListeners: unique symbol = Symbol('shallot.onHeaders')
const kWriteHead: unique symbol = Symbol('shallot.writeHead')
const kFinishedListeners: unique symbol = Symbol('shallot.onFinished')
/** @internal */
export const kListenerErrors: unique symbol = Symbol('shallot.listenerErrors')

interface HookedResponse extends ServerResponse {
  [kHeadersListeners]?: HeadersListener | HeadersListener[]
  [kWriteHead]?: WriteHead
  [kFinishedListeners]?: FinishedListener[]
  [kListenerErrors]?: ListenerErrorSink
}

type HeaderPairs = readonly (readonly [string, string | number | readonly string[]])[]
type FlatHeaders = readonly (string | number | readonly string[])[]

/**
 * Runs `listener` once, just before the response head is written: by an explicit
 * `writeHead` call in any of its forms, or implicitly by the first `write`/`end`/`flushHeaders`.
 * Headers passed to `writeHead` are already set on `res` when the listener runs, so it sees
 * (and may change) the final header set and `res.statusCode`.
 *
 * Listeners run in reverse order of registration: the outermost layer registers first and
 * so runs last, seeing what the inner layers decided. A listener that throws makes
 * `writeHead` throw; listeners not yet run stay registered and run on the next head written
 * (the error response rendered by the stack's boundary).
 *
 * How: `http.ServerResponse.prototype.writeHead` is wrapped once per process (the wrapper
 * only looks up one property on responses without listeners), so a response whose
 * `writeHead` is the prototype's gets its listeners in one property and nothing else. A
 * response whose `writeHead` someone already replaced (another hook library, a framework, an
 * HTTP/2 compatibility response) gets its own wrapper, as on-headers does.
 */
export function onHeaders(res: ServerResponse, listener: HeadersListener): void {
  if (typeof listener !== 'function') {
    throw new TypeError('[@shallot/stack] onHeaders: listener must be a function')
  }
  const r = res as HookedResponse
  const list = r[kHeadersListeners]
  if (list !== undefined) {
    if (typeof list === 'function') r[kHeadersListeners] = [list, listener]
    else list.push(listener)
    return
  }
  if (res.headersSent) return
  if (res.writeHead === protoWriteHead) {
    r[kHeadersListeners] = listener
    return
  }
  if (protoWriteHead === undefined) {
    installPrototypeHook()
    if (res.writeHead === protoWriteHead) {
      r[kHeadersListeners] = listener
      return
    }
  }
  r[kHeadersListeners] = [listener]
  r[kWriteHead] = res.writeHead
  res.writeHead = instanceWriteHead as WriteHead
}

/** The hook on `ServerResponse.prototype.writeHead`, once installed. */
let protoWriteHead: WriteHead | undefined

/**
 * Wraps `ServerResponse.prototype.writeHead` once. Called when the stack is built, so that
 * a wrapper another library puts on a response later (compression's on-headers) captures the
 * hooked method and calls through it. Idempotent; a second copy of this package wraps the
 * first one's hook, and each sees only its own listeners.
 * @internal
 */
export function installPrototypeHook(): void {
  if (protoWriteHead !== undefined) return
  const proto = ServerResponse.prototype
  const original = proto.writeHead
  protoWriteHead = function writeHead(
    this: HookedResponse,
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | HeaderPairs | FlatHeaders,
    obj?: OutgoingHttpHeaders | HeaderPairs | FlatHeaders
  ): ServerResponse {
    return this[kHeadersListeners] === undefined
      ? (original as (...args: unknown[]) => ServerResponse).call(this, statusCode, reason, obj)
      : runHeaders(this, original, statusCode, reason, obj)
  } as WriteHead
  proto.writeHead = protoWriteHead
}

function instanceWriteHead(
  this: HookedResponse,
  statusCode: number,
  reason?: string | OutgoingHttpHeaders | HeaderPairs | FlatHeaders,
  obj?: OutgoingHttpHeaders | HeaderPairs | FlatHeaders
): ServerResponse {
  return runHeaders(this, this[kWriteHead] as WriteHead, statusCode, reason, obj)
}

/**
 * Runs the listeners, last registered first, including any a listener registers meanwhile.
 * A single listener (only on the prototype path) is cleared before it runs and a list is
 * popped, so that one that throws does not run again on the error response while the rest
 * still do.
 */
function runListeners(res: HookedResponse, first: HeadersListener | HeadersListener[]): void {
  let list: HeadersListener | HeadersListener[] | undefined = first
  while (list !== undefined) {
    if (typeof list === 'function') {
      res[kHeadersListeners] = undefined
      list(res)
    } else {
      const listener = list.pop()
      if (listener === undefined) return
      listener(res)
    }
    list = res[kHeadersListeners]
  }
}

function runHeaders(
  res: HookedResponse,
  original: WriteHead,
  statusCode: number,
  reason?: string | OutgoingHttpHeaders | HeaderPairs | FlatHeaders,
  obj?: OutgoingHttpHeaders | HeaderPairs | FlatHeaders
): ServerResponse {
  const list = res[kHeadersListeners]
  if (list === undefined || res.headersSent) {
    return (original as (...args: unknown[]) => ServerResponse).call(res, statusCode, reason, obj)
  }
  let message: string | undefined
  if (typeof reason === 'string') {
    message = reason
    res.statusMessage = reason
  } else if (obj === undefined || obj === null) {
    obj = reason
  }
  res.statusCode = statusCode
  if (obj !== undefined && obj !== null) applyHeaders(res, obj)
  runListeners(res, list)
  const write = original as PlainWriteHead
  return message === undefined
    ? write.call(res, res.statusCode)
    : write.call(res, res.statusCode, res.statusMessage)
}

/**
 * Sets headers given to writeHead the way Node itself merges them when setHeader was used:
 * they replace same-named headers; an array form may repeat a name (e.g. Set-Cookie).
 */
function applyHeaders(
  res: ServerResponse,
  obj: OutgoingHttpHeaders | HeaderPairs | FlatHeaders
): void {
  if (!Array.isArray(obj)) {
    const headers = obj as OutgoingHttpHeaders
    for (const name of Object.keys(headers)) {
      const value = headers[name]
      if (name && value !== undefined) res.setHeader(name, value)
    }
    return
  }
  if (obj.length > 0 && Array.isArray(obj[0])) {
    const pairs = obj as HeaderPairs
    for (const pair of pairs) res.removeHeader(String(pair[0]))
    for (const pair of pairs) appendValue(res, String(pair[0]), pair[1])
    return
  }
  const flat = obj as FlatHeaders
  if (flat.length % 2 !== 0) {
    throw new TypeError('[@shallot/stack] writeHead: a flat header array must have an even length')
  }
  for (let i = 0; i < flat.length; i += 2) res.removeHeader(String(flat[i]))
  for (let i = 0; i < flat.length; i += 2) {
    const value = flat[i + 1]
    if (value !== undefined) appendValue(res, String(flat[i]), value)
  }
}

function appendValue(
  res: ServerResponse,
  name: string,
  value: string | number | readonly string[]
): void {
  res.appendHeader(name, typeof value === 'number' ? String(value) : (value as string | string[]))
}

/**
 * Runs `listener` exactly once when the exchange is over: after the last byte of the
 * response was handed to the OS, or when the client aborted, or the socket failed.
 * If the exchange is already over, the listener runs on the next tick.
 *
 * Built on the response's own `close` event, which Node emits in all three cases;
 * one shared event listener serves all the callbacks of a response.
 */
export function onFinished(res: ServerResponse, listener: FinishedListener): void {
  if (typeof listener !== 'function') {
    throw new TypeError('[@shallot/stack] onFinished: listener must be a function')
  }
  const r = res as HookedResponse
  const list = r[kFinishedListeners]
  if (list !== undefined) {
    list.push(listener)
    return
  }
  if (res.destroyed) {
    // 'close' has been (or is about to be) emitted: do not wait for it.
    process.nextTick(runLate, r, listener)
    return
  }
  r[kFinishedListeners] = [listener]
  // `on`, not `once` (no wrapper closure): onClose empties the list, Node emits 'close' once.
  res.on('close', onClose)
}

function runLate(res: HookedResponse, listener: FinishedListener): void {
  callFinished(res, listener, res.writableFinished ? null : prematureClose())
}

function onClose(this: HookedResponse): void {
  const list = this[kFinishedListeners]
  if (list === undefined) return
  // Later registrations (from inside a listener) go to runLate via `destroyed`.
  this[kFinishedListeners] = undefined
  const err = this.writableFinished ? null : prematureClose()
  for (let i = 0; i < list.length; i++) callFinished(this, list[i] as FinishedListener, err)
}

function callFinished(res: HookedResponse, listener: FinishedListener, err: Error | null): void {
  try {
    listener(err, res)
  } catch (e) {
    reportListenerError(res, e)
  }
}

/** @internal */
export function reportListenerError(res: ServerResponse, err: unknown): void {
  const sink = (res as HookedResponse)[kListenerErrors]
  if (sink !== undefined) {
    try {
      sink(err, res)
      return
    } catch {
      // fall through to the last resort below
    }
  }
  process.emitWarning(
    `[@shallot/stack] a response listener threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`
  )
}

/** @internal */
export function setListenerErrorSink(res: ServerResponse, sink: ListenerErrorSink): void {
  ;(res as HookedResponse)[kListenerErrors] = sink
}

function prematureClose(): Error {
  const err = new Error('[@shallot/stack] the response was closed before it finished') as Error & {
    code: string
  }
  err.code = 'ERR_STREAM_PREMATURE_CLOSE'
  return err
}
