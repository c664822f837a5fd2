/**
 * Origins, parsed rather than pattern-matched.
 *
 * A serialized origin (RFC 6454 §6.2, Fetch "serialization of an origin") is
 * `scheme "://" host [ ":" port ]`: lower-case scheme and host, no default port, no path, no
 * trailing slash, no user info, query or fragment. Browsers send exactly that in `Origin`, or
 * the string `null` for an opaque origin.
 *
 * @internal
 */

// Rough shape before the WHATWG URL parser normalises: a scheme, "://", then an authority
// without "/", "?", "#", "@", "\" or whitespace. Rejects paths, trailing slashes, queries,
// fragments and user info without relying on what the URL parser drops.
const SHAPE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#@\\\s]+$/

/** Serializes a parsed URL's origin the way browsers send it, for any scheme with a host. */
function serialize(url: URL): string {
  return `${url.protocol}//${url.host.toLowerCase()}`
}

function parse(value: string): URL | undefined {
  if (!SHAPE.test(value)) return undefined
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/**
 * Whether a request's `Origin` header is a serialized origin in canonical form (what a browser
 * sends). Anything else (upper case, a default port, a trailing slash, a path, two origins
 * joined by a comma) cannot come from a browser and is treated as not allowed.
 */
export function isSerializedOrigin(value: string): boolean {
  const url = parse(value)
  return url !== undefined && url.host !== '' && serialize(url) === value
}

/**
 * Normalises an origin from the options: scheme and host lower-cased, IDNs in punycode,
 * default ports removed. Returns an error text (what is wrong) instead of throwing, so the
 * caller can name the option.
 */
export function normalizeOrigin(value: string): string | { error: string } {
  if (value !== value.trim()) return { error: 'has surrounding whitespace' }
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(value)
  if (scheme === null) {
    return { error: 'has no scheme: write it in full, such as "https://app.example.com"' }
  }
  const rest = value.slice(scheme[0].length)
  if (rest.includes('@')) return { error: 'has user info: an origin is scheme://host[:port]' }
  const cut = rest.search(/[/?#]/)
  if (cut !== -1) {
    const tail = rest.slice(cut)
    return {
      error:
        tail === '/'
          ? `has a trailing slash: an origin has no path, write ${JSON.stringify(value.slice(0, -1))}`
          : `has a path, query or fragment (${JSON.stringify(tail)}): an origin is scheme://host[:port]`,
    }
  }
  const url = parse(value)
  if (url === undefined) return { error: 'is not a valid origin' }
  if (url.host === '') return { error: 'has no host' }
  return serialize(url)
}

/**
 * Compiles a structured wildcard such as `https://*.example.com` (or with a port,
 * `http://*.localhost:3000`) into an anchored RegExp that matches one or more host labels in
 * place of the `*`, and nothing else: not the apex `https://example.com`, not
 * `https://example.com.evil.net`, not `https://evil-example.com`, not another scheme or port.
 * The pattern has no nested quantifiers over overlapping input (each repetition ends with a
 * dot, which the label class excludes), so it runs in linear time.
 */
export function compileWildcard(value: string): RegExp | { error: string } {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)\*\.([^*]+)$/.exec(value)
  if (m === null) {
    return {
      error:
        'uses "*" in a way that is not supported: "*" may only stand for the leading labels of the host, as in "https://*.example.com"',
    }
  }
  const [, scheme, suffix] = m as unknown as [string, string, string]
  // Parse with a stand-in label so the URL parser normalises the rest (case, punycode, port).
  const normalized = normalizeOrigin(`${scheme}x.${suffix}`)
  if (typeof normalized !== 'string') return normalized
  const url = new URL(normalized)
  const host = url.hostname.slice(2)
  if (host === '' || host.startsWith('[') || /^[\d.]+$/.test(host)) {
    return { error: 'must be a host name after "*."' }
  }
  if (!host.includes('.') && host !== 'localhost') {
    return {
      error:
        'is too broad: "*." must be followed by a registrable domain such as "example.com", not a top-level domain',
    }
  }
  const port = url.port === '' ? '' : `:${url.port}`
  return new RegExp(
    `^${escapeRegExp(url.protocol)}//(?:[a-z0-9_-]+\\.)+${escapeRegExp(host)}${escapeRegExp(port)}$`
  )
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}
