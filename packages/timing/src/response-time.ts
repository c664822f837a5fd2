import type { ServerResponse } from 'node:http'
import { formatDecimal, type Middleware, onHeaders } from '@shallot/stack'
import { TOKEN } from './format.js'
import { badOption, booleanOption, checkOptionsObject, integerOption } from './options.js'

/** Options of {@link responseTime}. */
export interface ResponseTimeOptions {
  /**
   * The response header to set. A header already set by an inner layer or the application
   * is kept, as expressjs/response-time does.
   *
   * @default 'X-Response-Time'
   */
  header?: string
  /**
   * Digits after the decimal point, from 0 to 6.
   *
   * @default 3
   */
  digits?: number
  /**
   * Whether to append the unit, `ms`, to the value (`12.345ms`); `false` sends the bare number.
   *
   * @default true
   */
  suffix?: boolean
}

/** @internal Validated responseTime options. */
export interface ResolvedResponseTime {
  header: string
  /** `header` in lower case: what Node keys its header table by (hasHeader copies otherwise). */
  key: string
  digits: number
  unit: string
}

/** @internal */
export function resolveResponseTime(
  options: ResponseTimeOptions | undefined,
  prefix = ''
): ResolvedResponseTime {
  checkOptionsObject(options, prefix === '' ? 'responseTime' : 'timing({ responseTime })', [
    'header',
    'digits',
    'suffix',
  ])
  const o = options ?? {}
  const header = o.header ?? 'X-Response-Time'
  if (typeof header !== 'string' || !TOKEN.test(header)) {
    badOption(`${prefix}header`, 'a header name (an HTTP token)', header)
  }
  return {
    header,
    key: header.toLowerCase(),
    digits: integerOption(`${prefix}digits`, o.digits, 0, 6, 3),
    unit: booleanOption(`${prefix}suffix`, o.suffix, true) ? 'ms' : '',
  }
}

/** @internal Sets the header unless it is there already. */
export function setResponseTime(res: ServerResponse, o: ResolvedResponseTime, ms: number): void {
  if (!res.hasHeader(o.key)) res.setHeader(o.header, formatDecimal(ms, o.digits) + o.unit)
}

/**
 * Sets `X-Response-Time` on every response: the milliseconds from the request entering this
 * layer to the response head being written, on a monotonic clock (`performance.now()`). Set
 * just before the head goes out, whatever writes it: the application, a streamed first
 * chunk, or the stack's error boundary.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/timing#readme
 * @example
 * ```ts
 * const app = stack(responseTime({ digits: 1 }))(handler) // X-Response-Time: 12.3ms
 * ```
 */
export function responseTime(options?: ResponseTimeOptions): Middleware {
  const o = resolveResponseTime(options)
  return (next) =>
    function responseTime(req, res) {
      const start = performance.now()
      onHeaders(res, () => setResponseTime(res, o, performance.now() - start))
      return next(req, res)
    }
}
