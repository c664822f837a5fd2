import type { IncomingMessage } from 'node:http'

/**
 * What a request id may look like to be taken from a request: 1 to 128 characters among
 * letters, digits and `-_.:+=/`. That covers UUIDs, ULIDs, hex, base64 and base64url ids,
 * and `host:pid:seq` styles; it excludes spaces, commas (two headers joined by Node), quotes,
 * semicolons and every control character, so an id is safe in a header, a log line and a
 * file name without escaping.
 */
export const REQUEST_ID: RegExp = /^[A-Za-z0-9\-_.:+=/]{1,128}$/

/**
 * W3C Trace Context `traceparent`, version 00 and future versions (which may append
 * `-`-separated fields): `version-traceid-parentid-flags`, lower-case hex.
 * Version `ff` is invalid; an all-zero trace id or parent id is invalid.
 *
 * @see https://www.w3.org/TR/trace-context/#traceparent-header
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '00000000000000000000000000000000'
const ZERO_PARENT = '0000000000000000'

/**
 * The trace id of a `traceparent` header value, or undefined when the value is not a valid
 * one (so a malformed header is ignored, as the specification asks).
 */
export function parseTraceparent(value: string | string[] | undefined): string | undefined {
  // Several traceparent headers are invalid (Node keeps the first of a repeated unknown
  // header joined with ", ", which the pattern refuses).
  if (typeof value !== 'string' || value.length > 512) return undefined
  const m = TRACEPARENT.exec(value)
  if (m === null) return undefined
  const version = m[1] as string
  if (version === 'ff') return undefined
  // Version 00 has exactly four fields.
  if (version === '00' && m[5] !== undefined) return undefined
  const traceId = m[2] as string
  if (traceId === ZERO_TRACE || m[3] === ZERO_PARENT) return undefined
  return traceId
}

/** What the accessors read: the request's first logging entry. @internal */
interface IdHolder {
  readonly requestId: string | undefined
  readonly traceId: string | undefined
}

/**
 * The one property a logging layer adds to a request: its entry (the outermost layer's;
 * nested layers chain theirs to it). Shared across copies of this package.
 * @internal
 */
export const kEntries: unique symbol = Symbol.for('shallot.logging.entries')

interface IdState extends IncomingMessage {
  [kEntries]?: IdHolder
}

/**
 * The request id a `logging()` layer took from the request's `X-Request-Id` (when valid and
 * trusted) or generated for it; the same value is sent back in the response header and
 * written in the log. Undefined outside a logging layer, or with `requestId: false`.
 *
 * @example
 * ```ts
 * const handler: Handler = (req, res) => {
 *   fetch(upstream, { headers: { 'x-request-id': getRequestId(req) ?? '' } })
 * }
 * ```
 */
export function getRequestId(req: IncomingMessage): string | undefined {
  return (req as IdState)[kEntries]?.requestId
}

/**
 * The trace id (32 lower-case hex digits) of the request's W3C `traceparent` header, when
 * a `logging()` layer found a valid one. Undefined otherwise.
 */
export function getTraceId(req: IncomingMessage): string | undefined {
  return (req as IdState)[kEntries]?.traceId
}
