/*
 * Redaction: credentials must not reach a log line unless the options allow them.
 */

/** What replaces a redacted value. */
export const REDACTED = '[REDACTED]'

/** Headers whose values are never logged unless allowed. */
export const DEFAULT_REDACTED_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
  'x-csrf-token',
  'x-xsrf-token',
]

/** Query parameter names whose values are replaced, whatever their case. */
export const DEFAULT_REDACTED_QUERY: readonly string[] = [
  'access_token',
  'api-key',
  'api_key',
  'apikey',
  'auth',
  'client_secret',
  'code',
  'id_token',
  'jwt',
  'key',
  'pass',
  'passwd',
  'password',
  'pwd',
  'refresh_token',
  'secret',
  'session',
  'sessionid',
  'sid',
  'sig',
  'signature',
  'token',
]

/**
 * Names that look secret whatever comes before: `csrf_token`, `x-amz-signature`,
 * `x-amz-credential`, `db_password`, `client-secret`, `private_key`, `x-amz-security-token`.
 */
const SECRET_SUFFIX =
  /(?:token|secret|passwd|password|signature|credential|credentials|api[-_]?key|access[-_]?key|private[-_]?key|secret[-_]?key)$/

/** Decides, once a name is normalised, whether its value is hidden. */
export interface QueryRedactor {
  /** Lower-cased names always hidden (defaults plus `redact.query`), minus `allow.query`. */
  readonly names: ReadonlySet<string>
  /** Lower-cased names never hidden (`allow.query`): they win over the suffix rule too. */
  readonly allowed: ReadonlySet<string>
}

/** The parameter name as the application would read it: decoded, lower-cased, `a[b]` -> `b`. */
function normaliseName(raw: string): string {
  let name = raw
  if (name.indexOf('%') !== -1 || name.indexOf('+') !== -1) {
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '))
    } catch {
      // an undecodable name is matched as written
    }
  }
  name = name.toLowerCase()
  if (name.endsWith('[]')) name = name.slice(0, -2)
  if (name.endsWith(']')) {
    const open = name.lastIndexOf('[')
    if (open !== -1) name = name.slice(open + 1, -1)
  }
  return name
}

function isSecret(name: string, r: QueryRedactor): boolean {
  const n = normaliseName(name)
  if (r.allowed.has(n)) return false
  return r.names.has(n) || SECRET_SUFFIX.test(n)
}

/**
 * Replaces the values of secret-looking query parameters of a request target or URL with
 * `[REDACTED]`. Everything else is kept byte for byte; the same string is returned when
 * nothing was hidden (a target without `?` costs one `indexOf`).
 */
export function redactUrl(url: string, r: QueryRedactor): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  let out: string | undefined
  let last = 0
  let start = q + 1
  const end = url.length
  while (start <= end) {
    let amp = url.indexOf('&', start)
    if (amp === -1) amp = end
    if (amp > start) {
      const eq = url.indexOf('=', start)
      const nameEnd = eq === -1 || eq > amp ? amp : eq
      if (eq !== -1 && eq < amp && amp > eq + 1 && isSecret(url.slice(start, nameEnd), r)) {
        out = (out ?? '') + url.slice(last, eq + 1) + REDACTED
        last = amp
      }
    }
    start = amp + 1
  }
  return out === undefined ? url : out + url.slice(last)
}
