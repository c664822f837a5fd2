import type { IncomingMessage } from 'node:http'
import { stringifySetCookie } from 'cookie'
import { CookieStore } from './cookie-store.js'
import { ID_PATTERN, randomId, Sealer, Signer } from './crypto.js'
import { MemoryStore } from './memory-store.js'
import type { SessionStore } from './store.js'

/** What to do when the store fails (an error, or no answer within `storeTimeout`). */
export type StoreErrorPolicy = 'fail' | 'continue'

/**
 * Decides per failure what to do, and is the place to log it. A throw counts as `'fail'`.
 * `phase` says whether the session was being loaded (before the application ran) or written
 * (after it answered).
 */
export type StoreErrorHandler = (
  err: Error,
  req: IncomingMessage,
  phase: 'load' | 'write'
) => StoreErrorPolicy

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  /**
   * The `Path` attribute. Must be `'/'` with the `__Host-` name prefix.
   *
   * @default '/'
   */
  path?: string
  /**
   * The `Domain` attribute: the cookie is then also sent to subdomains. Not allowed with
   * the `__Host-` name prefix.
   *
   * @default none (this host only)
   */
  domain?: string
  /**
   * The `Secure` attribute. `'auto'` sets it when the request came over TLS, or when a
   * trusted proxy says the client used https (`trustProxy` and `getClient` from
   * @shallot/stack). With a `__Host-`/`__Secure-` name it is always set (the prefix requires
   * it), and `false` is refused at start-up.
   *
   * @default 'auto'
   */
  secure?: boolean | 'auto'
  /**
   * The `HttpOnly` attribute: page scripts cannot read the cookie.
   *
   * @default true
   */
  httpOnly?: boolean
  /**
   * The `SameSite` attribute, or `false` for none. `'none'` needs `secure` not `false`.
   *
   * @default 'lax'
   */
  sameSite?: 'lax' | 'strict' | 'none' | false
  /**
   * The `Partitioned` attribute (CHIPS: a third-party cookie kept per top-level site).
   * Needs `secure` not `false`.
   *
   * @default false
   */
  partitioned?: boolean
  /**
   * The `Priority` attribute (Chromium).
   *
   * @default none
   */
  priority?: 'low' | 'medium' | 'high'
  /**
   * The cookie's lifetime (`Max-Age`):
   * - `'auto'`: until the session's deadline (the idle or absolute timeout, whichever comes
   *   first), re-sent whenever the session is written or refreshed, so the cookie lives as
   *   long as the session on the server;
   * - `null`: no `Max-Age`: a browser-session cookie, dropped when the browser closes (the
   *   server's timeouts still apply);
   * - a number of milliseconds (express-session's `cookie.maxAge`): that long from each time
   *   it is sent, but never past the session's deadline.
   *
   * @default 'auto'
   */
  maxAge?: 'auto' | number | null
  /**
   * Also send the `Expires` attribute, for the same instant as `Max-Age` (for very old
   * clients that only read `Expires`).
   *
   * @default false
   */
  expires?: boolean
}

/** Options of `session()`. Every option is checked when the layer is built. */
export interface SessionOptions {
  /**
   * The secret that signs session ids (and, with {@link CookieStore}, the keys that seal the
   * cookie, derived with HKDF-SHA256). At least 32 characters each; use a random value
   * (`openssl rand -base64 48`) kept out of the code. A list rotates secrets: the first signs,
   * every one is accepted, and a cookie signed with an older one is re-issued with the first.
   */
  secret: string | readonly string[]
  /**
   * Where sessions live: a {@link SessionStore} (`MemoryStore`, `RedisStore`, your own, or an
   * express-session store wrapped with `fromExpressStore`), or a {@link CookieStore} to keep
   * the sealed session in the cookie itself.
   *
   * @default new MemoryStore()
   */
  store?: SessionStore | CookieStore
  /**
   * The cookie's name: an HTTP token. A `__Host-` prefix (recommended in production: the
   * cookie is bound to this host, https only) requires `cookie.path` `'/'`, no
   * `cookie.domain` and `cookie.secure` not `false`; a `__Secure-` prefix requires
   * `cookie.secure` not `false`. Checked at start-up.
   *
   * @default 'sid'
   */
  name?: string
  /** The cookie's attributes. */
  cookie?: SessionCookieOptions
  /**
   * Makes a new session id. It must return 16 to 128 characters of `A-Z a-z 0-9 _ -`, and
   * should carry at least 128 random bits (`crypto.randomUUID()` carries 122).
   *
   * @default 24 random bytes from the OS CSPRNG, base64url (192 bits)
   */
  genid?: (req: IncomingMessage) => string
  /**
   * Milliseconds without activity after which a session ends. Activity is a request that
   * loads the session, recorded at most every `touchAfter`.
   *
   * @default 86_400_000 (1 day)
   */
  idleTimeout?: number
  /**
   * Milliseconds after its creation (or its last `regenerate()`) at which a session ends,
   * however active. Stored inside the session record (and the sealed cookie), so a copied
   * cookie cannot be replayed past it.
   *
   * @default 604_800_000 (7 days)
   */
  absoluteTimeout?: number
  /**
   * The least time, in milliseconds, between two refreshes of an unchanged session (a store
   * `touch` and a re-sent cookie). Limits store writes from activity; a session may then end
   * up to `touchAfter` before `idleTimeout` has passed since the last request. `0` refreshes on
   * every request.
   *
   * @default the smaller of 60_000 (1 minute) and idleTimeout / 10
   */
  touchAfter?: number
  /**
   * Send the cookie on every response that carries a live session, not only when it is
   * created, changed or refreshed.
   *
   * @default false
   */
  rolling?: boolean
  /**
   * Save a new session, and send its cookie, even if the application did not change it
   * (every request without a valid session then creates one). Off by default: a visitor
   * whose session was never changed costs no store write and gets no cookie.
   *
   * @default false
   */
  saveUninitialized?: boolean
  /**
   * What a failing store does to the request:
   * - `'fail'`: the request fails with `503 Session store unavailable` (an `HttpError` whose
   *   `cause` is the store's error), which reaches the stack's `onError`;
   * - `'continue'`: the application runs with an empty session that is never written and
   *   sets no cookie (`session.available` is `false`); on a failed write, the response is
   *   sent without it. The error is logged with `console.error`;
   * - a function `(err, req, phase) => 'fail' | 'continue'` that decides, and logs as it likes.
   *
   * @default 'fail'
   */
  onStoreError?: StoreErrorPolicy | StoreErrorHandler
  /**
   * Milliseconds to wait for an answer from the store before treating the call as failed
   * (so requests do not hang while a remote store is unreachable). Not applied to
   * `MemoryStore`, which answers at once.
   *
   * @default 2000
   */
  storeTimeout?: number
  /**
   * Also expose the session as a property of the request, for code ported from Express:
   * `true` for `req.session`, or the property's name. Its keys read and write as properties
   * (`req.session.views = 1`), and `regenerate`, `destroy` and `save` take an optional
   * callback. Prefer `getSession(req)` in new code: it is typed and needs no augmentation.
   *
   * @default false
   */
  property?: boolean | string
}

/** The cookie attributes as resolved at start-up. @internal */
export interface ResolvedCookie {
  path: string
  domain: string | undefined
  secure: boolean | 'auto'
  httpOnly: boolean
  sameSite: 'lax' | 'strict' | 'none' | false
  partitioned: boolean
  priority: 'low' | 'medium' | 'high' | undefined
  maxAge: 'auto' | number | null
  expires: boolean
  /** Secure whatever `secure` says: a `__Host-`/`__Secure-` name, SameSite=None or Partitioned. */
  alwaysSecure: boolean
}

/** Everything the layer needs, validated and precomputed once. @internal */
export interface Resolved {
  name: string
  signer: Signer
  /** The server-side store, or undefined with a CookieStore. */
  store: SessionStore | undefined
  /** The sealer, with a CookieStore. */
  sealer: Sealer | undefined
  maxCookieSize: number
  cookie: ResolvedCookie
  genid: (req: IncomingMessage) => string
  idleTimeout: number
  absoluteTimeout: number
  touchAfter: number
  rolling: boolean
  saveUninitialized: boolean
  onStoreError: StoreErrorHandler
  /** undefined for a store that cannot hang (MemoryStore). */
  storeTimeout: number | undefined
  property: string | undefined
  /** `Set-Cookie` for a value, a Max-Age in seconds (undefined: none), and Secure. */
  setCookieHeader(value: string, maxAge: number | undefined, secure: boolean, now: number): string
  /** `Set-Cookie` that removes the cookie. */
  clearCookieHeader(secure: boolean): string
}

const PREFIX = '[@shallot/session]'
const DAY = 86_400_000
/** Browsers cap cookie lifetimes at 400 days (RFC 6265bis); a longer session cannot be carried. */
const MAX_LIFETIME = 400 * DAY
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

const KNOWN = [
  'secret',
  'store',
  'name',
  'cookie',
  'genid',
  'idleTimeout',
  'absoluteTimeout',
  'touchAfter',
  'rolling',
  'saveUninitialized',
  'onStoreError',
  'storeTimeout',
  'property',
]

const KNOWN_COOKIE = [
  'path',
  'domain',
  'secure',
  'httpOnly',
  'sameSite',
  'partitioned',
  'priority',
  'maxAge',
  'expires',
]

/** Options of the peers and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  resave:
    'not needed: only the keys a request changed are written, and unchanged sessions are refreshed with touch',
  unset: 'use session.destroy()',
  proxy: 'put trustProxy() from @shallot/stack in front: cookie.secure "auto" reads getClient(req)',
  maxAge: 'use "idleTimeout" and "absoluteTimeout" (server-side), or "cookie.maxAge"',
  ttl: 'use "idleTimeout" and "absoluteTimeout"',
  keys: 'use "secret" (a list rotates)',
  key: 'use "name" for the cookie name and "secret" for the key',
  cookieName: 'use "name"',
  password: 'use "secret"',
  cookieOptions: 'use "cookie"',
  signed: 'the id is always signed',
  renew: 'use "rolling" or "touchAfter"',
  autoCommit: 'writes always happen before the response is sent; call session.save() to write now',
}

const COOKIE_HINTS: Readonly<Record<string, string>> = {
  originalMaxAge: 'use "maxAge"',
  encode: 'the cookie value is always base64url',
  signed: 'the id is always signed',
  overwrite: 'the layer sets its cookie once per response',
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

function bad(name: string, expectation: string, value: unknown): never {
  throw new TypeError(`${PREFIX} option "${name}" must be ${expectation}, got ${describe(value)}`)
}

function unknownKeys(
  object: object,
  known: readonly string[],
  hints: Readonly<Record<string, string>>,
  prefix: string
): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      const hint = hints[key]
      throw new TypeError(
        `${PREFIX} unknown option "${prefix}${key}" (${hint ?? `known: ${known.join(', ')}`})`
      )
    }
  }
}

function duration(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    value > MAX_LIFETIME
  ) {
    bad(name, `an integer number of milliseconds from ${min} to ${MAX_LIFETIME} (400 days)`, value)
  }
  return value
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') bad(name, 'a boolean', value)
  return value
}

function secrets(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (list === undefined) {
    throw new TypeError(
      `${PREFIX} option "secret" is required: a random string of at least 32 characters (or a list of them, to rotate)`
    )
  }
  if (!Array.isArray(list) || list.length === 0) {
    bad('secret', 'a string of at least 32 characters or a non-empty list of them', value)
  }
  list.forEach((s: unknown, i: number) => {
    // Never echo a secret in the message.
    if (typeof s !== 'string') {
      throw new TypeError(
        `${PREFIX} option "secret" must hold strings of at least 32 characters, got ${typeof s} at index ${i}`
      )
    }
    if (s.length < 32) {
      throw new TypeError(
        `${PREFIX} option "secret" must be at least 32 characters long (at index ${i}: ${s.length}); use a random value such as the output of \`openssl rand -base64 48\``
      )
    }
  })
  if (new Set(list).size !== list.length) {
    throw new TypeError(`${PREFIX} option "secret" must not hold the same secret twice`)
  }
  return list as string[]
}

function resolveCookie(value: unknown, name: string): ResolvedCookie {
  const o = (value ?? {}) as SessionCookieOptions
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('cookie', 'an object', value)
  unknownKeys(o, KNOWN_COOKIE, COOKIE_HINTS, 'cookie.')
  const path = o.path ?? '/'
  if (
    typeof path !== 'string' ||
    // RFC 6265 path-value is every CHAR but CTLs and ";"
    !/^\/[ -:<-~]*$/.test(path)
  ) {
    bad('cookie.path', 'a path starting with "/" without ";" or control characters', path)
  }
  const domain = o.domain
  if (domain !== undefined) {
    let ok = typeof domain === 'string' && domain !== ''
    if (ok) {
      try {
        stringifySetCookie('x', 'y', { domain })
      } catch {
        ok = false
      }
    }
    if (!ok) bad('cookie.domain', 'a domain name such as "example.com"', domain)
  }
  const secure = o.secure ?? 'auto'
  if (secure !== true && secure !== false && secure !== 'auto') {
    bad('cookie.secure', "true, false or 'auto'", secure)
  }
  const httpOnly = boolean('cookie.httpOnly', o.httpOnly, true)
  const sameSite = o.sameSite ?? 'lax'
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none' && sameSite !== false) {
    bad('cookie.sameSite', "'lax', 'strict', 'none' or false", sameSite)
  }
  const partitioned = boolean('cookie.partitioned', o.partitioned, false)
  const priority = o.priority
  if (
    priority !== undefined &&
    priority !== 'low' &&
    priority !== 'medium' &&
    priority !== 'high'
  ) {
    bad('cookie.priority', "'low', 'medium' or 'high'", priority)
  }
  const maxAge = o.maxAge === undefined ? 'auto' : o.maxAge
  if (
    maxAge !== 'auto' &&
    maxAge !== null &&
    (typeof maxAge !== 'number' ||
      !Number.isInteger(maxAge) ||
      maxAge < 1000 ||
      maxAge > MAX_LIFETIME)
  ) {
    bad(
      'cookie.maxAge',
      `'auto', null, or an integer number of milliseconds from 1000 to ${MAX_LIFETIME} (400 days)`,
      maxAge
    )
  }
  const expires = boolean('cookie.expires', o.expires, false)
  if (expires && maxAge === null) {
    throw new TypeError(
      `${PREFIX} option "cookie.expires" needs a cookie lifetime: it cannot be used with "cookie.maxAge: null"`
    )
  }

  // Prefix rules (RFC 6265bis §4.1.3): checked here because the cookie package does not.
  const host = name.startsWith('__Host-')
  const securePrefix = name.startsWith('__Secure-')
  if ((host || securePrefix) && secure === false) {
    throw new TypeError(
      `${PREFIX} option "cookie.secure" must not be false for a cookie named ${JSON.stringify(name)}: the ${host ? '__Host-' : '__Secure-'} prefix requires Secure`
    )
  }
  if (host && path !== '/') {
    throw new TypeError(
      `${PREFIX} option "cookie.path" must be "/" for a cookie named ${JSON.stringify(name)}: the __Host- prefix requires Path=/`
    )
  }
  if (host && domain !== undefined) {
    throw new TypeError(
      `${PREFIX} option "cookie.domain" must not be set for a cookie named ${JSON.stringify(name)}: the __Host- prefix forbids Domain`
    )
  }
  if (sameSite === 'none' && secure === false) {
    throw new TypeError(
      `${PREFIX} option "cookie.sameSite" 'none' needs "cookie.secure" true or 'auto': browsers drop SameSite=None cookies without Secure`
    )
  }
  if (partitioned && secure === false) {
    throw new TypeError(
      `${PREFIX} option "cookie.partitioned" needs "cookie.secure" true or 'auto': browsers drop Partitioned cookies without Secure`
    )
  }
  return {
    path,
    domain,
    secure,
    httpOnly,
    sameSite,
    partitioned,
    priority,
    maxAge,
    expires,
    // Browsers drop a prefixed, SameSite=None or Partitioned cookie without Secure, and accept
    // Secure from http://localhost too: with 'auto' these always get it.
    alwaysSecure: host || securePrefix || sameSite === 'none' || partitioned,
  }
}

function isStore(value: unknown): value is SessionStore {
  const s = value as Partial<SessionStore> | null
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.get === 'function' &&
    typeof s.set === 'function' &&
    typeof s.destroy === 'function'
  )
}

function storeErrorHandler(value: unknown): StoreErrorHandler {
  if (value === undefined || value === 'fail') return () => 'fail'
  if (value === 'continue') {
    return (err, req, phase) => {
      console.error(
        `${PREFIX} session store failed while ${phase === 'load' ? 'loading' : 'writing'} the session of ${req.method ?? '-'} ${req.url ?? '-'}; going on without it:`,
        err
      )
      return 'continue'
    }
  }
  if (typeof value === 'function') return value as StoreErrorHandler
  return bad('onStoreError', "'fail', 'continue' or a function", value)
}

/** Validates, defaults and precomputes the options. Throws a TypeError naming the option. @internal */
export function resolveOptions(options: SessionOptions): Resolved {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `${PREFIX} session(options): options must be an object with at least a "secret", got ${describe(options)}`
    )
  }
  unknownKeys(options, KNOWN, HINTS, '')
  const list = secrets(options.secret)
  const name = options.name ?? 'sid'
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    bad(
      'name',
      "a cookie name made of token characters (letters, digits and !#$%&'*+-.^_`|~)",
      name
    )
  }
  const cookie = resolveCookie(options.cookie, name)

  let store: SessionStore | undefined
  let sealer: Sealer | undefined
  let maxCookieSize = 4096
  const rawStore = options.store
  if (rawStore === undefined) {
    store = new MemoryStore()
  } else if (rawStore instanceof CookieStore) {
    sealer = new Sealer(list, name)
    maxCookieSize = rawStore.maxCookieSize
  } else if (isStore(rawStore)) {
    store = rawStore
    for (const method of ['touch', 'patch', 'clear', 'length'] as const) {
      const m = rawStore[method]
      if (m !== undefined && typeof m !== 'function') {
        bad('store', `a store whose optional "${method}" is a function`, m)
      }
    }
  } else {
    bad(
      'store',
      'a session store (get, set and destroy methods; wrap an express-session store with fromExpressStore) or a CookieStore',
      rawStore
    )
  }

  const genid = options.genid ?? randomId
  if (typeof genid !== 'function') bad('genid', 'a function (req) => string', genid)

  const idleTimeout = duration('idleTimeout', options.idleTimeout, DAY, 1000)
  const absoluteTimeout = duration('absoluteTimeout', options.absoluteTimeout, 7 * DAY, 1000)
  if (idleTimeout > absoluteTimeout) {
    throw new TypeError(
      `${PREFIX} option "idleTimeout" (${idleTimeout}) must not be longer than "absoluteTimeout" (${absoluteTimeout})`
    )
  }
  const touchAfter = duration(
    'touchAfter',
    options.touchAfter,
    Math.min(60_000, Math.floor(idleTimeout / 10)),
    0
  )
  if (touchAfter >= idleTimeout) {
    throw new TypeError(
      `${PREFIX} option "touchAfter" (${touchAfter}) must be shorter than "idleTimeout" (${idleTimeout}), or sessions in use would expire`
    )
  }
  const rolling = boolean('rolling', options.rolling, false)
  const saveUninitialized = boolean('saveUninitialized', options.saveUninitialized, false)
  const onStoreError = storeErrorHandler(options.onStoreError)
  const timeout = options.storeTimeout ?? 2000
  if (
    typeof timeout !== 'number' ||
    !Number.isInteger(timeout) ||
    timeout < 1 ||
    timeout > 60_000
  ) {
    bad('storeTimeout', 'an integer number of milliseconds from 1 to 60000', timeout)
  }
  const rawProperty = options.property ?? false
  let property: string | undefined
  if (rawProperty === true) property = 'session'
  else if (typeof rawProperty === 'string' && /^[A-Za-z_$][\w$]*$/.test(rawProperty)) {
    property = rawProperty
  } else if (rawProperty !== false) {
    bad('property', 'a boolean or a property name', rawProperty)
  }

  const { setCookieHeader, clearCookieHeader } = cookieHeaders(name, cookie)

  return {
    name,
    signer: new Signer(list),
    store,
    sealer,
    maxCookieSize,
    cookie,
    genid:
      genid === randomId
        ? randomId
        : (req) => {
            const id = genid(req)
            if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
              throw new TypeError(
                `${PREFIX} genid must return 16 to 128 characters of A-Z a-z 0-9 _ -, got ${describe(id)}`
              )
            }
            return id
          },
    idleTimeout,
    absoluteTimeout,
    touchAfter,
    rolling,
    saveUninitialized,
    onStoreError,
    storeTimeout: store instanceof MemoryStore ? undefined : timeout,
    property,
    setCookieHeader,
    clearCookieHeader,
  }
}

const EPOCH = new Date(0)
const EPOCH_EXPIRES = `; Expires=${EPOCH.toUTCString()}`

/**
 * Builds the Set-Cookie headers. The attributes are serialized once, here, by the cookie
 * package (which validates them); per response only the value, `Max-Age` and `Expires` are
 * put in place, giving exactly what `stringifySetCookie` would.
 */
function cookieHeaders(
  name: string,
  c: ResolvedCookie
): Pick<Resolved, 'setCookieHeader' | 'clearCookieHeader'> {
  const attributes = (secure: boolean) => ({
    path: c.path,
    domain: c.domain,
    httpOnly: c.httpOnly,
    secure,
    sameSite: c.sameSite,
    partitioned: c.partitioned,
    priority: c.priority,
  })
  // `name=v; Domain; Path` + `; Expires=…` + `; HttpOnly; Secure; …` in the package's order
  const parts = (secure: boolean): [string, string] => {
    const full = stringifySetCookie(name, 'v', { ...attributes(secure), expires: EPOCH })
    const at = full.indexOf(EPOCH_EXPIRES)
    return [full.slice(name.length + 2, at), full.slice(at + EPOCH_EXPIRES.length)]
  }
  const [preSecure, postSecure] = parts(true)
  const [prePlain, postPlain] = parts(false)
  const clearSecure = stringifySetCookie(name, '', {
    ...attributes(true),
    maxAge: 0,
    expires: EPOCH,
  })
  const clearPlain = stringifySetCookie(name, '', {
    ...attributes(false),
    maxAge: 0,
    expires: EPOCH,
  })
  const prefix = `${name}=`
  return {
    setCookieHeader(value, maxAge, secure, now) {
      let header = prefix + value
      if (maxAge !== undefined) header += `; Max-Age=${maxAge}`
      header += secure ? preSecure : prePlain
      if (c.expires && maxAge !== undefined) {
        header += `; Expires=${new Date(now + maxAge * 1000).toUTCString()}`
      }
      return header + (secure ? postSecure : postPlain)
    },
    clearCookieHeader: (secure) => (secure ? clearSecure : clearPlain),
  }
}
