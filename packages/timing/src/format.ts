/**
 * Server-Timing grammar and number formatting.
 *
 * @see https://w3c.github.io/server-timing/#the-server-timing-header-field
 */
import { formatDecimal } from '@shallot/stack'

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
  if (dur !== undefined) out += `;dur=${formatDecimal(dur, digits)}`
  if (desc !== undefined && desc !== '') out += `;desc=${quote(desc)}`
  return out
}
