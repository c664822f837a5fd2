import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  appendVary,
  formatDecimal,
  getClient,
  type Handler,
  type Middleware,
  onHeaders,
} from '@shallot/stack'
import { metric, quote } from './format.js'
import { badOption, booleanOption, checkOptionsObject, integerOption } from './options.js'
import { getRecorder, type Mark, peekSpans, Recorder, setRecorder } from './recorder.js'
import {
  type ResolvedResponseTime,
  type ResponseTimeOptions,
  resolveResponseTime,
  setResponseTime,
} from './response-time.js'

/**
 * Who receives `Server-Timing`:
 * - `'always'`: every response (no `Timing-Allow-Origin`, so only same-origin pages can read
 *   the metrics from JavaScript);
 * - `'never'`: no response (marks are still recorded, for `getTiming(req).entries`);
 * - `{ origins }`: same-origin requests, and cross-origin requests whose `Origin` is listed,
 *   which also get `Timing-Allow-Origin: <that origin>` (plus `Vary: Origin`);
 * - a function `(req, res) => boolean`, called just before the head is written, so it can
 *   use what inner layers learned (e.g. the authenticated user).
 */
export type ServerTimingExpose =
  | 'always'
  | 'never'
  | { readonly origins: readonly string[] }
  | ((req: IncomingMessage, res: ServerResponse) => boolean)

/** Options of {@link serverTiming}. */
export interface ServerTimingOptions {
  /**
   * Who receives the `Server-Timing` header. Metrics reveal how long your database, cache and
   * code take: a predicate limiting them to internal users is the safe choice in production.
   *
   * - `'always'`: every response. No `Timing-Allow-Origin` is sent, so cross-origin pages
   *   cannot read the metrics from JavaScript, but anyone sending the request sees them.
   * - `'never'`: no response. Marks are still recorded and readable through `getTiming(req)`.
   * - `{ origins: ['https://app.example'] }`: requests from the same origin (no `Origin`
   *   header and no cross-site `Sec-Fetch-Site`, or an `Origin` equal to the request's own)
   *   and from the listed origins. A listed origin also gets `Timing-Allow-Origin` naming it,
   *   so its pages can read the metrics. `Vary: Origin` is added.
   * - `(req, res) => boolean`: your decision, made just before the head is written.
   *
   * @default 'always'
   * @see https://w3c.github.io/server-timing/#privacy-considerations
   * @example { expose: (req) => getPrincipal(req)?.role === 'staff' }
   */
  expose?: ServerTimingExpose
  /**
   * Whether to send the `total` metric: the milliseconds from the request entering this layer
   * to the response head being written.
   *
   * @default true
   */
  total?: boolean
  /**
   * A description for the `total` metric (`total;dur=12.3;desc="Total Response Time"`).
   *
   * @default undefined (none)
   */
  totalDescription?: string
  /**
   * Digits after the decimal point of every `dur`, from 0 to 6.
   *
   * @default 3
   */
  digits?: number
  /**
   * Most metrics kept per request, `total` not counted (marks and traced layers together,
   * from 0 to 1000). Further ones are dropped and counted, and the header ends with
   * `dropped;desc="<n> over the limit of <limit>"`.
   *
   * @default 50
   */
  limit?: number
}

/** Options of {@link timing}: those of {@link serverTiming}, plus `responseTime`. */
export interface TimingOptions extends ServerTimingOptions {
  /**
   * Also set `X-Response-Time` from the same measurement as `total`: `true`, `false`, or
   * the options of {@link responseTime}. It is sent whatever `expose` says, as
   * expressjs/response-time does.
   *
   * @default true
   */
  responseTime?: boolean | ResponseTimeOptions
}

type Exposer = (req: IncomingMessage, res: ServerResponse) => boolean

interface Resolved {
  expose: Exposer | undefined
  total: boolean
  totalDesc: string
  digits: number
  limit: number
}

const ALWAYS: Exposer = () => true
const SERVER_TIMING_KEYS = ['expose', 'total', 'totalDescription', 'digits', 'limit']
const TIMING_KEYS = [...SERVER_TIMING_KEYS, 'responseTime']

function resolveServerTiming(options: ServerTimingOptions | undefined, factory: string): Resolved {
  checkOptionsObject(options, factory, factory === 'timing' ? TIMING_KEYS : SERVER_TIMING_KEYS)
  const o = options ?? {}
  const { totalDescription } = o
  if (totalDescription !== undefined && typeof totalDescription !== 'string') {
    badOption('totalDescription', 'a string', totalDescription)
  }
  const expose = resolveExpose(o.expose)
  return {
    expose,
    total: booleanOption('total', o.total, true),
    totalDesc:
      totalDescription === undefined || totalDescription === ''
        ? ''
        : `;desc=${quote(totalDescription)}`,
    digits: integerOption('digits', o.digits, 0, 6, 3),
    limit: integerOption('limit', o.limit, 0, 1000, 50),
  }
}

const EXPOSE_FORMS = `'always', 'never', { origins: [...] } or a function (req, res) => boolean`

/** Returns undefined for 'never'. */
function resolveExpose(expose: ServerTimingOptions['expose']): Exposer | undefined {
  if (expose === undefined || expose === 'always') return ALWAYS
  if (expose === 'never') return undefined
  if (typeof expose === 'function') {
    return (req, res) => expose(req, res) === true
  }
  if (typeof expose !== 'object' || expose === null || Array.isArray(expose)) {
    return badOption('expose', EXPOSE_FORMS, expose)
  }
  const { origins } = expose as { origins?: unknown }
  if (!Array.isArray(origins) || origins.length === 0) {
    return badOption('expose.origins', 'a non-empty array of origins', origins)
  }
  const allowed = new Set<string>()
  for (const origin of origins as unknown[]) allowed.add(checkOrigin(origin))
  return (req, res) => exposeToOrigins(req, res, allowed)
}

/** A serialized origin, `scheme://host[:port]`, as browsers send it in `Origin`. */
function checkOrigin(origin: unknown): string {
  if (origin === '*') {
    badOption(
      'expose.origins',
      "a list of origins, not '*' (that would let every site read your timings; use a function to decide per request)",
      origin
    )
  }
  if (typeof origin !== 'string') badOption('expose.origins', 'a list of strings', origin)
  let serialized: string
  try {
    serialized = new URL(origin).origin
  } catch {
    return badOption('expose.origins', 'a list of origins like "https://app.example"', origin)
  }
  if (serialized === 'null' || serialized !== origin) {
    badOption(
      'expose.origins',
      `a list of serialized origins (scheme://host[:port], lower case, no path or trailing slash${serialized === 'null' ? '' : `: "${serialized}"`})`,
      origin
    )
  }
  return origin
}

function exposeToOrigins(
  req: IncomingMessage,
  res: ServerResponse,
  allowed: ReadonlySet<string>
): boolean {
  appendVary(res, 'Origin')
  const site = req.headers['sec-fetch-site']
  if (site === 'same-origin') return true
  const origin = req.headers.origin
  if (origin === undefined) return site === undefined || site === 'none'
  if (allowed.has(origin)) {
    allowTimingFor(res, origin)
    return true
  }
  const { protocol, host } = getClient(req)
  return host !== undefined && origin === `${protocol}://${host.toLowerCase()}`
}

/** Adds `origin` to Timing-Allow-Origin, keeping what is there. */
function allowTimingFor(res: ServerResponse, origin: string): void {
  const existing = res.getHeader('timing-allow-origin')
  if (existing === undefined) {
    res.setHeader('timing-allow-origin', origin)
    return
  }
  const list = Array.isArray(existing) ? existing.join(', ') : String(existing)
  const items = list.split(',').map((s) => s.trim())
  if (!items.includes(origin) && !items.includes('*')) {
    res.setHeader('timing-allow-origin', `${list}, ${origin}`)
  }
}

/** Writes Server-Timing for `recorder`, the head being written at `now`. */
function writeServerTiming(
  req: IncomingMessage,
  res: ServerResponse,
  recorder: Recorder,
  now: number,
  o: Resolved
): void {
  // Marks still open when the head goes out are ended now, so they appear with a duration.
  const marks = recorder.entries
  if (recorder.open > 0) {
    for (const mark of marks) if (mark.dur === undefined) recorder.close(mark, now)
  }
  if (o.expose === undefined || !o.expose(req, res)) return
  const { digits } = o
  const parts: string[] = []
  if (o.total)
    parts.push(`total;dur=${formatDecimal(now - recorder.startTime, digits)}${o.totalDesc}`)
  let budget = o.limit
  let dropped = recorder.dropped
  const spans = peekSpans(req)
  if (spans !== undefined) {
    for (const span of spans) {
      if (!span.entered) continue
      if (budget === 0) {
        dropped++
        continue
      }
      budget--
      parts.push(`${span.metric};dur=${formatDecimal((span.next ?? now) - span.start, digits)}`)
    }
  }
  for (const mark of marks as readonly Mark[]) {
    if (budget === 0) {
      dropped++
      continue
    }
    budget--
    parts.push(metric(mark.name, mark.dur, mark.desc, digits))
  }
  if (dropped > 0)
    parts.push(metric('dropped', undefined, `${dropped} over the limit of ${o.limit}`, 0))
  if (parts.length === 0) return
  const value = parts.join(', ')
  const existing = res.getHeader('server-timing')
  res.setHeader(
    'server-timing',
    existing === undefined
      ? value
      : `${Array.isArray(existing) ? existing.join(', ') : String(existing)}, ${value}`
  )
}

/**
 * The handler shared by serverTiming() and timing(). `rt` set: also X-Response-Time, from the
 * same clock reading as `total`.
 */
function timingHandler(
  next: Handler,
  o: Resolved,
  rt: ResolvedResponseTime | undefined,
  name: string
): Handler {
  const handler: Handler = (req, res) => {
    const start = performance.now()
    // An outer serverTiming()/timing() already records this request: it alone sends the header.
    const recorder = getRecorder(req) === undefined ? new Recorder(req, start, o.limit) : undefined
    if (recorder !== undefined) setRecorder(req, recorder)
    if (recorder !== undefined || rt !== undefined) {
      onHeaders(res, () => {
        const now = performance.now()
        if (rt !== undefined) setResponseTime(res, rt, now - start)
        if (recorder !== undefined) writeServerTiming(req, res, recorder, now, o)
      })
    }
    return next(req, res)
  }
  Object.defineProperty(handler, 'name', { value: name })
  return handler
}

/**
 * `Server-Timing` (W3C) on every response: `total`, the time until the head was written,
 * plus the marks that inner layers and the application add with `getTiming(req)`, and one
 * entry per layer when the stack is traced with `traceLayers()`. Names are validated and
 * descriptions escaped, so the header is always well-formed.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/timing#readme
 * @see https://w3c.github.io/server-timing/
 * @example
 * ```ts
 * const app = stack(serverTiming({ expose: { origins: ['https://app.example'] } }))(handler)
 * // in the handler: getTiming(req).start('db') ... getTiming(req).end('db')
 * ```
 */
export function serverTiming(options?: ServerTimingOptions): Middleware {
  const o = resolveServerTiming(options, 'serverTiming')
  return (next) => timingHandler(next, o, undefined, 'serverTiming')
}

/**
 * `serverTiming()` and `responseTime()` in one layer, from one measurement: `X-Response-Time`
 * and the `total` metric carry the same number (Hono's `timing()`, plus the header
 * expressjs/response-time sets).
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/timing#readme
 * @example
 * ```ts
 * const app = stack(timing({ expose: (req) => req.headers['x-debug'] === 'on' }))(handler)
 * ```
 */
export function timing(options?: TimingOptions): Middleware {
  const o = resolveServerTiming(options, 'timing')
  const rtOption = options?.responseTime ?? true
  let rt: ResolvedResponseTime | undefined
  if (rtOption === true) rt = resolveResponseTime(undefined)
  else if (typeof rtOption === 'object' && rtOption !== null && !Array.isArray(rtOption)) {
    rt = resolveResponseTime(rtOption, 'responseTime.')
  } else if (rtOption !== false) {
    badOption('responseTime', 'a boolean or the options of responseTime()', rtOption)
  }
  return (next) => timingHandler(next, o, rt, 'timing')
}
