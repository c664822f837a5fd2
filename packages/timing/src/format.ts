/**
 * Server-Timing grammar and number formatting.
 *
 * @see https://w3c.github.io/server-timing/#the-server-timing-header-field
 */

/**
 * RFC 9110 §5.6.2: `token = 1*tchar`,
 * `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`.
 * W3C Server Timing: `metric-name = token`.
 */
export const TOKEN: RegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Longest metric name accepted, to keep the header bounded. */
export const MAX_NAME_LENGTH = 64
/** Longest description sent; longer ones are cut and end with `...`. */
export const MAX_DESC_LENGTH = 200

const NON_TCHAR = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/g

/** Whether `name` is a metric name we accept: an HTTP token of 1 to 64 characters. */
export function isMetricName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && TOKEN.test(name)
}

/** Turns any string into a metric name: characters outside `tchar` become `_`. */
export function toMetricName(name: string, fallback: string): string {
  const clean = name.replace(NON_TCHAR, '_').slice(0, MAX_NAME_LENGTH)
  return clean === '' ? fallback : clean
}

// Anything Node would refuse in a header value (ERR_INVALID_CHAR) or a browser could misread:
// controls (CR, LF, NUL, DEL...) become a space, non-ASCII characters become `?`.
const UNSAFE = /[^\t\x20-\x7e]/gu
const unsafe = (c: string): string => (c.length === 1 && (c < ' ' || c === '\x7f') ? ' ' : '?')
const QUOTED_SPECIALS = /["\\]/g

/**
 * A description as an RFC 9110 `quoted-string` (`desc = token / quoted-string`):
 * `"` and `\` are escaped as quoted-pairs, controls replaced by a space, non-ASCII by `?`,
 * and the text cut to {@link MAX_DESC_LENGTH} characters. The result can always be written
 * by Node and parsed by a browser.
 */
export function quote(desc: string): string {
  let text = desc.replace(UNSAFE, unsafe)
  if (text.length > MAX_DESC_LENGTH) text = `${text.slice(0, MAX_DESC_LENGTH - 3)}...`
  return `"${text.replace(QUOTED_SPECIALS, '\\$&')}"`
}

/** One `server-timing-metric`: `name;dur=1.234;desc="..."`. */
export function metric(
  name: string,
  dur: number | undefined,
  desc: string | undefined,
  digits: number
): string {
  let out = name
  if (dur !== undefined) out += `;dur=${formatNumber(dur, digits)}`
  if (desc !== undefined && desc !== '') out += `;desc=${quote(desc)}`
  return out
}

const SCALE = [1, 10, 100, 1000, 1e4, 1e5, 1e6]
const ZEROS = ['', '0', '00', '000', '0000', '00000', '000000']

/**
 * A non-negative decimal with `digits` (0 to 6) digits after the point (never `-0`, never an
 * exponent): what `Math.max(ms, 0).toFixed(digits)` gives, in a quarter of its time
 * (`toFixed` costs about 0.15 µs here, a fifth of `responseTime`'s whole cost): the value
 * is rounded to an integer count of the last digit's unit, exact below 1e9 ms, and printed
 * as two integers; the rare values within 1e-4 of a tie go to `toFixed`.
 */
export function formatNumber(ms: number, digits: number): string {
  if (!(ms < 1e9) || !(digits >= 0 && digits <= 6)) return Math.max(ms, 0).toFixed(digits)
  const scale = SCALE[digits] as number
  const x = ms > 0 ? ms * scale : 0
  const n = Math.round(x)
  // Near a tie the product's rounding error can decide it: toFixed (exact decimal) does.
  if (Math.abs(x - n) > 0.4999) return ms.toFixed(digits)
  if (digits === 0) return String(n)
  const int = Math.floor(n / scale)
  const frac = String(n - int * scale)
  return `${int}.${ZEROS[digits - frac.length]}${frac}`
}
