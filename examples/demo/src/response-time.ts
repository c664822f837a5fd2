import { type Middleware, onHeaders } from '@shallot/stack'

/** Options of {@link responseTime}. */
export interface ResponseTimeOptions {
  /**
   * The response header that carries the duration.
   *
   * @default 'X-Response-Time'
   */
  header?: string
  /**
   * Digits after the decimal point of the milliseconds.
   *
   * @default 3
   */
  digits?: number
}

/**
 * A hand-written layer, as an example of writing your own middleware (see
 * docs/recipes/write-your-own-middleware.md). It adds `X-Response-Time: 1.234ms`, the time
 * from the request reaching this layer to the response head being written.
 *
 * The header is set in `onHeaders`, just before the head goes out, rather than after
 * `await next()`: by then the head has usually been sent already (and a streamed response
 * may still be running), and setting a header would throw. `onHeaders` also fires for the
 * error responses the stack's boundary renders, so a 404 or 500 is timed as well.
 *
 * @shallot/timing will replace this layer (with Server-Timing and marks).
 */
export function responseTime(options: ResponseTimeOptions = {}): Middleware {
  // Start-up: validate options once, so a typo fails when the server starts, not per request.
  const header = options.header ?? 'X-Response-Time'
  const digits = options.digits ?? 3
  if (typeof header !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new TypeError(
      `[demo/responseTime] option "header" must be a header name, got ${JSON.stringify(header)}`
    )
  }
  if (!Number.isInteger(digits) || digits < 0 || digits > 6) {
    throw new TypeError(
      `[demo/responseTime] option "digits" must be an integer from 0 to 6, got ${String(digits)}`
    )
  }

  return (next) =>
    function responseTime(req, res) {
      // Per request: only what must happen per request.
      const start = process.hrtime.bigint()
      onHeaders(res, () => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6
        res.setHeader(header, `${ms.toFixed(digits)}ms`)
      })
      return next(req, res)
    }
}
