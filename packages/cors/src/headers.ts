/**
 * Header and method lists: validated at start-up, parsed without regex splitting per request.
 *
 * @internal
 */

/** RFC 9110 §5.6.2: `token = 1*tchar`, used for field names and methods. */
export const TOKEN: RegExp = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Upper bound on the distinct names reflected from `Access-Control-Request-Headers`. */
const MAX_REQUEST_HEADERS = 64

/**
 * Splits a comma-separated list (as in `Access-Control-Request-Headers`) into lower-cased
 * names. Returns undefined when any element is not a token, or the list is empty or too
 * long: such a request gets no `Access-Control-Allow-Headers`, and the browser fails it.
 * A linear scan, no regex over the whole value (ReDoS-proof).
 */
export function parseTokenList(value: string): string[] | undefined {
  const out: string[] = []
  let start = 0
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value.charCodeAt(i) === 44 /* , */) {
      const item = value.slice(start, i).trim().toLowerCase()
      start = i + 1
      if (item === '') continue
      if (!TOKEN.test(item)) return undefined
      // The cap counts distinct names: a repeat of one already listed is dropped, not counted.
      if (out.includes(item)) continue
      if (out.length === MAX_REQUEST_HEADERS) return undefined
      out.push(item)
    }
  }
  return out.length === 0 ? undefined : out
}

/** Response headers a browser always exposes (Fetch "CORS-safelisted response-header name"). */
export const SAFELISTED_RESPONSE: ReadonlySet<string> = new Set([
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'expires',
  'last-modified',
  'pragma',
])

/**
 * The concrete names `*` in `exposedHeaders` stands for on a credentialed response: the
 * response's own headers, minus those exposed anyway, `Set-Cookie` (never exposed) and the
 * CORS headers themselves.
 */
export function exposableNames(names: readonly string[], explicit: readonly string[]): string[] {
  const out = explicit.slice()
  const seen = new Set(explicit.map((n) => n.toLowerCase()))
  for (const name of names) {
    if (
      seen.has(name) ||
      SAFELISTED_RESPONSE.has(name) ||
      name === 'set-cookie' ||
      name === 'set-cookie2' ||
      name === 'vary' ||
      name.startsWith('access-control-')
    ) {
      continue
    }
    seen.add(name)
    out.push(name)
  }
  return out
}
