import { STATUS_CODES } from 'node:http'

/** Options of {@link HttpError}. */
export interface HttpErrorOptions {
  /**
   * Whether `message` may be sent to the client. When false the client sees only the
   * standard reason phrase of the status.
   *
   * @default status < 500
   */
  expose?: boolean
  /**
   * Headers to send with the error response, e.g. `WWW-Authenticate`, `Allow` or
   * `Retry-After`. Header names are validated when the error is created.
   */
  headers?: Readonly<Record<string, string | number | readonly string[]>>
  /** The underlying error, kept for `onError` and logs; never sent to the client. */
  cause?: unknown
}

/**
 * How a layer refuses a request without writing the response itself: throw it (or reject
 * with it) and the stack's error boundary renders it as JSON or text, by the request's
 * `Accept` header.
 *
 * @example
 * ```ts
 * throw new HttpError(401, 'API key required', { headers: { 'WWW-Authenticate': 'ApiKey' } })
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status, 400 to 599. */
  readonly status: number
  /** Alias of `status`, for code written against http-errors / Express. */
  readonly statusCode: number
  /** Whether `message` is safe to send to the client. */
  readonly expose: boolean
  /** Headers sent with the error response. */
  readonly headers: Readonly<Record<string, string | number | readonly string[]>>

  constructor(status: number, message?: string, options: HttpErrorOptions = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(
        `[@shallot/stack] HttpError status must be an integer from 400 to 599, got ${String(status)}`
      )
    }
    super(message ?? STATUS_CODES[status] ?? 'Error', { cause: options.cause })
    this.name = 'HttpError'
    this.status = status
    this.statusCode = status
    this.expose = options.expose ?? status < 500
    this.headers = options.headers ?? {}
  }
}

/** True for an {@link HttpError} or any error carrying an integer 4xx/5xx `status`/`statusCode` (http-errors, body-parser). */
export function isHttpError(err: unknown): err is Error & { status: number; expose?: boolean } {
  if (err instanceof HttpError) return true
  if (!(err instanceof Error)) return false
  const status = errorStatus(err)
  return status !== undefined
}

/** The 4xx/5xx status an error asks for, or undefined. @internal */
export function errorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { status?: unknown; statusCode?: unknown }
  const s = typeof e.status === 'number' ? e.status : e.statusCode
  return typeof s === 'number' && Number.isInteger(s) && s >= 400 && s <= 599 ? s : undefined
}
