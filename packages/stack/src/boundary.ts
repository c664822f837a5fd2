import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import { qualityValues } from './accept.js'
import { setListenerErrorSink } from './hooks.js'
import { errorStatus, HttpError } from './http-error.js'
import type { Handler } from './types.js'

/** Sees every error the boundary catches. Must not throw (if it does, a warning is emitted). */
export type ErrorListener = (err: Error, req: IncomingMessage, res: ServerResponse) => void

/**
 * Where an error caught inside a stack goes. A root scope reports and renders; a nested
 * stack's scope reports to its own `onError` and hands the error to its parent.
 * @internal
 */
export interface Scope {
  fail(err: unknown, req: IncomingMessage, res: ServerResponse): void
}

/** Tag carried by the `next` handlers a stack builds, so that a stack built inside another one finds its parent scope. @internal */
export const kScope: unique symbol = Symbol('shallot.scope')
const kError: unique symbol = Symbol('shallot.error')
const kClaimed: unique symbol = Symbol('shallot.errorClaimed')

interface Tagged {
  [kScope]?: Scope
}
interface ErrorState extends IncomingMessage {
  [kError]?: Error
  [kClaimed]?: true
}

/** The scope that built `next`, if a Shallot stack (or adapter) built it. @internal */
export function scopeOf(next: Handler): Scope | undefined {
  return (next as Tagged)[kScope]
}

/** Marks `fn` as belonging to `scope`. @internal */
export function tag<T extends Handler>(fn: T, scope: Scope): T {
  ;(fn as Tagged)[kScope] = scope
  return fn
}

/**
 * The first error the stack's boundary caught for this request, if any. Lets outer layers
 * (an access log, metrics) see why a response is a 500 without catching anything themselves.
 */
export function getError(req: IncomingMessage): Error | undefined {
  return (req as ErrorState)[kError]
}

/**
 * Declares that a layer (an access log) reports this request's error itself, with its real
 * stack trace, once the exchange ends. {@link defaultOnError} then stays silent for the
 * request, so the error is logged once; an `onError` you pass to `stack` is still called.
 */
export function claimErrorReport(req: IncomingMessage): void {
  ;(req as ErrorState)[kClaimed] = true
}

/** Whether a layer has called {@link claimErrorReport} for this request. */
export function isErrorReportClaimed(req: IncomingMessage): boolean {
  return (req as ErrorState)[kClaimed] === true
}

/** Turns anything thrown into an Error (a thrown string or `undefined` must not be lost). @internal */
export function toError(err: unknown): Error {
  if (err instanceof Error) return err
  return new Error(`[@shallot/stack] a non-Error value was thrown: ${describe(err)}`, {
    cause: err,
  })
}

function describe(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

function report(
  listener: ErrorListener,
  err: Error,
  req: IncomingMessage,
  res: ServerResponse
): void {
  try {
    listener(err, req, res)
  } catch (e) {
    process.emitWarning(
      `[@shallot/stack] onError threw: ${e instanceof Error ? e.message : describe(e)}`
    )
  }
}

/**
 * Logs server errors (5xx) to stderr; client errors (4xx) are the access log's business.
 * Silent for a request whose error a layer has claimed ({@link claimErrorReport}).
 */
export const defaultOnError: ErrorListener = (err, req) => {
  if ((req as ErrorState)[kClaimed] === true) return
  const status = errorStatus(err) ?? 500
  if (status >= 500) {
    console.error(`[@shallot/stack] ${status} ${req.method ?? '-'} ${req.url ?? '-'}:`, err)
  }
}

/** The outermost boundary: reports, then renders the error or ends the exchange. @internal */
export class RootScope implements Scope {
  private readonly onError: ErrorListener
  readonly sink: (err: unknown, res: ServerResponse) => void

  constructor(onError: ErrorListener | undefined) {
    this.onError = onError ?? defaultOnError
    this.sink = (err, res) => this.fail(err, res.req, res)
  }

  fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    const e = toError(err)
    const r = req as ErrorState
    if (r[kError] === undefined) r[kError] = e
    report(this.onError, e, req, res)
    respond(e, req, res)
  }

  /** Makes errors thrown by onHeaders/onFinished listeners of this response reach onError. */
  watch(res: ServerResponse): void {
    setListenerErrorSink(res, this.sink)
  }
}

/** A stack built inside another: its own onError sees the error, then the parent handles it. @internal */
export class ChildScope implements Scope {
  constructor(
    private readonly onError: ErrorListener,
    private readonly parent: Scope
  ) {}

  fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    const e = toError(err)
    report(this.onError, e, req, res)
    this.parent.fail(e, req, res)
  }
}

/**
 * Ends the exchange after an error: a rendered error response when the head is not sent
 * yet, a destroyed socket when it is (the client must see the response is incomplete), and
 * nothing when the response is already complete.
 * @internal
 */
export function respond(err: Error, req: IncomingMessage, res: ServerResponse): void {
  if (res.writableEnded) return
  if (res.headersSent) {
    res.destroy()
    return
  }
  try {
    render(err, req, res)
  } catch {
    // An onHeaders listener failed again, or the socket is gone: give up on this exchange.
    res.destroy()
  }
}

// Headers describing the body or its caching would be wrong on the error response.
const STRIP =
  /^(?:content-|etag$|last-modified$|cache-control$|expires$|accept-ranges$|transfer-encoding$|location$)/

function render(err: Error, req: IncomingMessage, res: ServerResponse): void {
  const status = errorStatus(err) ?? 500
  const expose =
    err instanceof HttpError ? err.expose : (err as { expose?: unknown }).expose === true
  const reason = STATUS_CODES[status] ?? 'Error'
  const message = expose ? err.message : reason
  for (const name of res.getHeaderNames()) if (STRIP.test(name)) res.removeHeader(name)
  const headers = (err as { headers?: unknown }).headers
  if (errorStatus(err) !== undefined && typeof headers === 'object' && headers !== null) {
    for (const [name, value] of Object.entries(headers)) {
      try {
        res.setHeader(name, value as string | number | readonly string[])
      } catch {
        // an invalid header in an error is dropped, never a second failure
      }
    }
  }
  const json = wantsJson(req.headers.accept)
  const body = json
    ? JSON.stringify({ statusCode: status, error: reason, message })
    : `${message}\n`
  res.statusCode = status
  res.statusMessage = reason
  res.setHeader(
    'Content-Type',
    json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8'
  )
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('Content-Security-Policy', "default-src 'none'")
  res.end(req.method === 'HEAD' ? undefined : body)
}

/**
 * Whether the client prefers JSON over text by the q-values of its Accept header
 * (RFC 9110 §12.5.1). Ties, and no Accept at all, go to text.
 * @internal
 */
export function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.indexOf('json') === -1) return false
  let qJson = 0
  let qText = 0
  for (const [type, q] of qualityValues(accept)) {
    if (type === 'application/json' || type.endsWith('+json') || type === 'application/*') {
      if (q > qJson) qJson = q
    } else if (type === '*/*') {
      if (q > qJson) qJson = q
      if (q > qText) qText = q
    } else if (type === 'text/plain' || type === 'text/*' || type === 'text/html') {
      if (q > qText) qText = q
    }
  }
  return qJson > qText
}
