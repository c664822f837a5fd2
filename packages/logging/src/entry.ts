import type { IncomingMessage, ServerResponse } from 'node:http'

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
  /**
   * performance.now() at arrival, at the head, at the end; -1: not yet, or not measured (a
   * line that prints no time skips the clock).
   */
  readonly start: number
  head = -1
  end = -1
  /** Date.now() when the line is made. */
  time = 0
  /** The request target as the client sent it (not redacted, not escaped). */
  readonly url: string
  /** Body bytes handed to Node (the stack's count, read at the end when a format needs it). */
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
