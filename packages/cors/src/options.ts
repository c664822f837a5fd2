import type { IncomingMessage } from 'node:http'
import { TOKEN } from './headers.js'
import { compileWildcard, normalizeOrigin } from './origin.js'

/**
 * Decides per request whether `origin` may read the response. Called only with a valid
 * serialized origin (never with `null`, never with a malformed header). Return `true`, or
 * the request's origin itself, to allow it; anything else (`false`, another string,
 * `undefined`) refuses it. May be async; a throw or rejection goes to the stack's error
 * boundary (a 500).
 */
export type CorsOriginFunction = (
  origin: string,
  req: IncomingMessage
) => boolean | string | Promise<boolean | string>

/** What `origin` accepts: `'*'`, an origin, a wildcard, a RegExp, a list of those, or a function. */
export type CorsOrigin = string | RegExp | readonly (string | RegExp)[] | CorsOriginFunction

/**
 * Why a request's origin (or what it asked for) was refused, as given to `onRefused`:
 * - `'invalid-origin'`: the `Origin` header is not a serialized origin as browsers send it;
 * - `'null-origin'`: `Origin: null` and `allowNullOrigin` is off;
 * - `'origin-not-allowed'`: a valid origin that the `origin` option does not allow;
 * - `'private-network-not-allowed'`: an allowed preflight asked for private network access
 *   and `privateNetwork` is off (answered without `Access-Control-Allow-Private-Network`).
 */
export type CorsRefusalReason =
  | 'invalid-origin'
  | 'null-origin'
  | 'origin-not-allowed'
  | 'private-network-not-allowed'

/** Options of `cors()`. Every option is checked when the layer is built. */
export interface CorsOptions {
  /**
   * Which origins may read responses.
   * - `'*'`: every origin, answered with `Access-Control-Allow-Origin: *` (a public resource;
   *   refused together with `credentials`).
   * - an origin string, `'https://app.example.com'`: matched exactly against the request's
   *   whole origin (scheme, host and port). Written origins are normalised at start-up (case,
   *   default ports); one with a path or a trailing slash is a start-up error.
   * - a wildcard, `'https://*.example.com'`: one or more labels in place of `*`, same scheme
   *   and port; never the apex `https://example.com`.
   * - a RegExp, tested against the request's whole origin. Anchor it (`/^https:\/\/…$/`): an
   *   unanchored `/example\.com/` also matches `https://example.com.evil.net`.
   * - a list of the above.
   * - a function `(origin, req) => boolean | string | Promise<…>`: return `true` or the origin
   *   itself to allow.
   *
   * `Origin: null` is never allowed by any of these (see `allowNullOrigin`).
   *
   * @default '*'
   * @see https://fetch.spec.whatwg.org/#http-access-control-allow-origin
   */
  origin?: CorsOrigin
  /**
   * Allow `Origin: null`, answered with `Access-Control-Allow-Origin: null`. Sandboxed
   * iframes, `data:` and `file:` documents and cross-origin redirects all send `null`, so any
   * page can produce it: turn this on only for a resource that any site may read. The literal
   * `'null'` in `origin` is refused at start-up in favour of this option.
   *
   * @default false
   */
  allowNullOrigin?: boolean
  /**
   * Let the browser send cookies and HTTP authentication with cross-origin requests and read
   * the response (`Access-Control-Allow-Credentials: true`). The allowed origin is then always
   * echoed, never `*`, and `*` in `methods`, `allowedHeaders` and `exposedHeaders` is expanded
   * to the concrete names. Refused at start-up with `origin: '*'` (unless
   * `reflectAnyOriginWithCredentials`) and with a RegExp that matches any origin.
   *
   * @default false
   * @see https://fetch.spec.whatwg.org/#http-access-control-allow-credentials
   */
  credentials?: boolean
  /**
   * With `origin: '*'` and `credentials: true`, echo every (valid, non-`null`) origin back
   * with credentials allowed. This lets **any** website act as your logged-in users and read
   * the answers (CWE-942; Hono's CVE-2026-54290). Only for a service that is not reachable
   * from browsers with ambient credentials. Refused unless both options are set as described.
   *
   * @default false
   */
  reflectAnyOriginWithCredentials?: boolean
  /**
   * Methods allowed in preflights (`Access-Control-Allow-Methods`), as a list or a
   * comma-separated string. Matched case-sensitively by browsers: a client sending `patch`
   * needs `patch` listed. `'*'` allows any method (without credentials; with them, it is
   * replaced by the method the preflight asks for).
   *
   * @default ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE']
   * @see https://fetch.spec.whatwg.org/#http-access-control-allow-methods
   */
  methods?: string | readonly string[]
  /**
   * Request headers allowed in preflights (`Access-Control-Allow-Headers`). By default the
   * preflight's `Access-Control-Request-Headers` is reflected (each name checked to be a
   * token, with `Vary: Access-Control-Request-Headers`). `'*'` allows any header except
   * `Authorization`, which must be listed by name; with `credentials`, `*` is replaced by the
   * requested names (still without `Authorization` unless listed). `[]` allows only the
   * CORS-safelisted headers.
   *
   * @default undefined (reflect the requested headers)
   * @see https://fetch.spec.whatwg.org/#http-access-control-allow-headers
   */
  allowedHeaders?: string | readonly string[]
  /**
   * Response headers that scripts may read beyond the safelisted ones
   * (`Access-Control-Expose-Headers`, on actual responses). `'*'` exposes all (without
   * credentials; with them, it is replaced by the names of the response's own headers).
   *
   * @default []
   * @see https://fetch.spec.whatwg.org/#http-access-control-expose-headers
   */
  exposedHeaders?: string | readonly string[]
  /**
   * How long, in seconds, a browser may cache a preflight answer (`Access-Control-Max-Age`).
   * Browsers cap it (Chromium at 7200, Firefox at 86400). `0` disables caching; unset, the
   * header is not sent and browsers use 5 seconds.
   *
   * @default undefined (no header)
   * @see https://fetch.spec.whatwg.org/#http-access-control-max-age
   */
  maxAge?: number
  /**
   * Answer `Access-Control-Allow-Private-Network: true` to an allowed preflight that carries
   * `Access-Control-Request-Private-Network: true` (Private Network Access: a public page
   * calling a server on a private address or localhost). Chrome has since paused PNA
   * preflights in favour of a Local Network Access permission prompt; the header stays
   * harmless for browsers that no longer send the request header.
   *
   * @default false
   * @see https://wicg.github.io/private-network-access/
   */
  privateNetwork?: boolean
  /**
   * Pass preflights on to the inner handler (with the CORS headers set) instead of answering
   * them here.
   *
   * @default false
   */
  preflightContinue?: boolean
  /**
   * Status of the preflight answer: an "ok" status, an integer from 200 to 299. Some legacy
   * clients want 200.
   *
   * @default 204
   */
  optionsSuccessStatus?: number
  /**
   * Answer a request from a refused origin with 403 (an `HttpError` rendered by the stack)
   * instead of passing it on without CORS headers. Requests without `Origin` are not
   * affected. Browsers also send `Origin` on same-origin `POST`s: list your own origin too.
   *
   * @default false
   */
  strict?: boolean
  /**
   * Called when a request is refused, with a reason code, the `Origin` header as sent and
   * the request: for logs and metrics. The reason never goes on the wire. Must not throw
   * (a throw goes to the stack's error boundary).
   *
   * @default undefined
   */
  onRefused?: (reason: CorsRefusalReason, origin: string, req: IncomingMessage) => void
}

/** Options after validation, with everything precomputable precomputed. @internal */
export interface Resolved {
  /** `origin: '*'` without credentials: answer `*`, nothing depends on the origin. */
  star: boolean
  /** `origin: '*'` with credentials and the explicit opt-in: echo any valid origin. */
  reflectAny: boolean
  exact: ReadonlySet<string>
  wildcards: readonly RegExp[]
  regexps: readonly RegExp[]
  fn: CorsOriginFunction | undefined
  allowNull: boolean
  credentials: boolean
  methods: readonly string[]
  /** The static `Access-Control-Allow-Methods` value, or undefined when computed per preflight. */
  methodsValue: string | undefined
  /** undefined: reflect the request's headers. */
  allowedHeaders: readonly string[] | undefined
  allowedHeadersValue: string | undefined
  exposed: readonly string[]
  exposedValue: string | undefined
  maxAge: string | undefined
  privateNetwork: boolean
  preflightContinue: boolean
  status: number
  strict: boolean
  onRefused: CorsOptions['onRefused']
  /** Whether the answer depends on the request's origin (so `Vary: Origin` is needed). */
  varyOrigin: boolean
}

const KNOWN = new Set([
  'origin',
  'allowNullOrigin',
  'credentials',
  'reflectAnyOriginWithCredentials',
  'methods',
  'allowedHeaders',
  'exposedHeaders',
  'maxAge',
  'privateNetwork',
  'preflightContinue',
  'optionsSuccessStatus',
  'strict',
  'onRefused',
])

// Option names of the peers (expressjs/cors, @fastify/cors, hono, @koa/cors) and ours.
const RENAMED: Readonly<Record<string, string>> = {
  origins: 'origin',
  allowOrigin: 'origin',
  allowOrigins: 'origin',
  allowHeaders: 'allowedHeaders',
  exposeHeaders: 'exposedHeaders',
  allowMethods: 'methods',
  privateNetworkAccess: 'privateNetwork',
  allowPrivateNetwork: 'privateNetwork',
  allowCredentials: 'credentials',
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'] as const

// Canaries: a RegExp that matches these matches origins nobody listed on purpose.
const CANARIES = ['https://shallot-cors-probe.invalid', 'http://evil.example.net:8080']

function fail(name: string, text: string): never {
  throw new TypeError(`[@shallot/cors] option "${name}" ${text}`)
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (value instanceof RegExp) return String(value)
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'an object' : String(value)
}

function bool(options: CorsOptions, name: keyof CorsOptions): boolean {
  const value = options[name]
  if (value === undefined) return false
  if (typeof value !== 'boolean') fail(name, `must be a boolean, got ${show(value)}`)
  return value
}

function list(name: string, value: unknown, fallback: readonly string[]): string[] {
  if (value === undefined) return fallback.slice()
  let items: unknown[]
  if (typeof value === 'string') items = value.split(',').map((s) => s.trim())
  else if (Array.isArray(value)) items = value
  else fail(name, `must be a string or an array of strings, got ${show(value)}`)
  const out: string[] = []
  for (const item of items) {
    if (typeof item !== 'string') fail(name, `must contain only strings, got ${show(item)}`)
    if (item === '' && typeof value === 'string') continue
    if (item !== '*' && !TOKEN.test(item)) {
      fail(
        name,
        `contains ${show(item)}, which is not a valid ${name === 'methods' ? 'method' : 'header'} name`
      )
    }
    // Methods are case-sensitive (`patch` is not `PATCH`); header names are not.
    const lower = item.toLowerCase()
    const dup = name === 'methods' ? out.includes(item) : out.some((o) => o.toLowerCase() === lower)
    if (!dup) out.push(item)
  }
  return out
}

function compileOrigins(
  value: unknown,
  r: { exact: Set<string>; wildcards: RegExp[]; regexps: RegExp[] }
): void {
  const items = Array.isArray(value) ? (value as unknown[]) : [value]
  if (Array.isArray(value) && items.length === 0) {
    fail('origin', 'is an empty list: list at least one origin, or use a function')
  }
  for (const item of items) {
    if (item instanceof RegExp) {
      // Drop g/y: a stateful lastIndex would make every other test fail.
      r.regexps.push(new RegExp(item.source, item.flags.replace(/[gy]/g, '')))
      continue
    }
    if (typeof item !== 'string') {
      fail(
        'origin',
        `must be '*', an origin string, a RegExp, an array of those, or a function, got ${show(item)}${Array.isArray(value) ? ' in the list' : ''}`
      )
    }
    if (item === '*') {
      fail('origin', `'*' cannot be part of a list: use origin: '*' on its own`)
    }
    if (item.toLowerCase() === 'null') {
      fail(
        'origin',
        `must not list "null": every page can send Origin: null (sandboxed iframes, data: URLs); if you mean it, set allowNullOrigin: true`
      )
    }
    if (item.includes('*')) {
      const re = compileWildcard(item)
      if (re instanceof RegExp) r.wildcards.push(re)
      else fail('origin', `has ${show(item)}, which ${re.error}`)
      continue
    }
    const normalized = normalizeOrigin(item)
    if (typeof normalized !== 'string')
      fail('origin', `has ${show(item)}, which ${normalized.error}`)
    r.exact.add(normalized)
  }
}

/** Validates the options and precomputes the header values. @internal */
export function resolveOptions(options: CorsOptions): Resolved {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`[@shallot/cors] options must be an object, got ${show(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (KNOWN.has(key)) continue
    const hint = RENAMED[key]
    throw new TypeError(
      `[@shallot/cors] unknown option "${key}"${hint === undefined ? '' : `: did you mean "${hint}"?`}`
    )
  }
  const credentials = bool(options, 'credentials')
  const allowNull = bool(options, 'allowNullOrigin')
  const reflectOptIn = bool(options, 'reflectAnyOriginWithCredentials')
  const origin = options.origin ?? '*'

  const compiled = { exact: new Set<string>(), wildcards: [] as RegExp[], regexps: [] as RegExp[] }
  let fn: CorsOriginFunction | undefined
  let anyOrigin = false
  if (origin === '*') anyOrigin = true
  else if (typeof origin === 'function') fn = origin
  else if (typeof origin === 'boolean') {
    fail(
      'origin',
      `must be '*', an origin string, a RegExp, an array of those, or a function, got ${origin}: for "reflect any origin" use '*' (answered with *) or a function that decides`
    )
  } else compileOrigins(origin, compiled)

  if (anyOrigin && credentials && !reflectOptIn) {
    fail(
      'origin',
      `'*' cannot be combined with option "credentials": true. Browsers reject "Access-Control-Allow-Origin: *" on credentialed requests, and echoing every origin instead would let any website read your users' data. List the origins (origin: ['https://app.example.com']), decide per request with a function, or, deliberately, set reflectAnyOriginWithCredentials: true`
    )
  }
  if (reflectOptIn && !(anyOrigin && credentials)) {
    fail(
      'reflectAnyOriginWithCredentials',
      `only applies together with origin: '*' and credentials: true, got origin ${show(origin)} and credentials ${credentials}`
    )
  }
  if (credentials) {
    for (const re of compiled.regexps) {
      if (CANARIES.some((c) => re.test(c))) {
        fail(
          'origin',
          `has ${String(re)}, which matches any origin (it matches ${JSON.stringify(CANARIES[0])}); with option "credentials": true that would let any website read your users' data. Anchor it and name your domain, such as /^https:\\/\\/([a-z0-9-]+\\.)*example\\.com$/`
        )
      }
    }
  }
  for (const re of process.env.NODE_ENV === 'production' ? [] : compiled.regexps) {
    if (!re.source.startsWith('^') || !re.source.endsWith('$')) {
      process.emitWarning(
        `[@shallot/cors] option "origin" has ${String(re)}, which is not anchored with ^ and $: it also matches look-alike origins such as "https://example.com.evil.net". Prefer origin strings or "https://*.example.com" wildcards.`,
        { code: 'SHALLOT_CORS_UNANCHORED' }
      )
    }
  }

  const methods = list('methods', options.methods, DEFAULT_METHODS)
  if (methods.length === 0) fail('methods', 'must list at least one method')
  const allowedHeaders =
    options.allowedHeaders === undefined
      ? undefined
      : list('allowedHeaders', options.allowedHeaders, [])
  const exposed = list('exposedHeaders', options.exposedHeaders, [])

  let maxAge: string | undefined
  if (options.maxAge !== undefined) {
    const v = options.maxAge
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      fail('maxAge', `must be a non-negative integer number of seconds, got ${show(v)}`)
    }
    maxAge = String(v)
  }
  const status = options.optionsSuccessStatus ?? 204
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 299) {
    fail(
      'optionsSuccessStatus',
      `must be an integer from 200 to 299 (an "ok" status), got ${show(status)}`
    )
  }
  if (options.onRefused !== undefined && typeof options.onRefused !== 'function') {
    fail(
      'onRefused',
      `must be a function (reason, origin, req) => void, got ${show(options.onRefused)}`
    )
  }

  // With credentials, `*` is not a wildcard for browsers: it is expanded per request.
  const methodsValue = credentials && methods.includes('*') ? undefined : methods.join(', ')
  const allowedHeadersValue =
    allowedHeaders === undefined || (credentials && allowedHeaders.includes('*'))
      ? undefined
      : allowedHeaders.join(', ')
  const exposedValue =
    credentials && exposed.includes('*')
      ? undefined
      : exposed.length === 0
        ? undefined
        : exposed.join(', ')

  const star = anyOrigin && !credentials
  return {
    star,
    reflectAny: anyOrigin && credentials,
    exact: compiled.exact,
    wildcards: compiled.wildcards,
    regexps: compiled.regexps,
    fn,
    allowNull,
    credentials,
    methods,
    methodsValue,
    allowedHeaders,
    allowedHeadersValue,
    exposed,
    exposedValue,
    maxAge,
    privateNetwork: bool(options, 'privateNetwork'),
    preflightContinue: bool(options, 'preflightContinue'),
    status,
    strict: bool(options, 'strict'),
    onRefused: options.onRefused,
    varyOrigin: !star,
  }
}
