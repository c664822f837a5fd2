import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  appendVary,
  type Handler,
  HttpError,
  type Middleware,
  onHeaders,
  pathMatcher,
} from '@shallot/stack'
import { describe, optionError } from './challenge.js'
import type { SecretTable } from './compare.js'

/** The schemes this package implements. `jwt` is a Bearer scheme whose tokens are JWTs. */
export type SchemeName = 'apiKey' | 'basic' | 'bearer' | 'jwt'

/**
 * Why a request was refused, for `onFailure` and logs. Never sent to the client.
 *
 * - `missing`: no credentials for this scheme (no header, or another scheme's header)
 * - `malformed`: credentials that cannot be read (bad base64, control characters, bad token syntax)
 * - `invalid`: well-formed credentials that did not verify (unknown key, wrong user or password,
 *   bad signature, wrong issuer or audience, algorithm not allowed)
 * - `expired`: a JWT past its `exp` (or before its `nbf`), beyond the clock tolerance
 * - `insufficient_scope`: valid credentials without a required scope (403)
 * - `oversized`: a token longer than `maxTokenSize`
 */
export type FailureReason =
  | 'missing'
  | 'malformed'
  | 'invalid'
  | 'expired'
  | 'insufficient_scope'
  | 'oversized'

/** What `onFailure` learns besides the reason. Never sent to the client. */
export interface FailureInfo {
  /** The scheme that refused the request (for `anyOf`, the one whose failure was reported). */
  scheme: SchemeName
  /** The status the client gets. */
  status: 400 | 401 | 403
  /** A sentence for logs, e.g. `credentials are not valid base64`. Contains no secret. */
  detail: string
}

/**
 * Called for every refused request, before the error response is rendered. Use it for logs,
 * metrics or a brute-force back-off. A throw becomes a 500 through the stack's boundary.
 */
export type OnFailure = (reason: FailureReason, req: IncomingMessage, info: FailureInfo) => void

/** Options every factory (`apiKey`, `basic`, `bearer`, `jwt`, `anyOf`) takes. */
export interface AuthOptions {
  /**
   * Protect only these paths and everything below them, matched segment by segment on the
   * stack's canonical path (`getPath(req)`): `'/api'` and `'/api/'` both protect `/api` and
   * `/api/x`, never `/apix`. Written decoded, starting with `/`.
   *
   * @default every path
   */
  paths?: readonly string[]
  /**
   * Leave these paths (and everything below them) unprotected, matched like `paths`.
   * Applied after `paths`.
   *
   * @default none
   */
  exclude?: readonly string[]
  /**
   * Whether `paths` and `exclude` match case-sensitively. Turn it off only when the router
   * behind the stack matches paths case-insensitively (Express does by default).
   *
   * @default true
   */
  caseSensitive?: boolean
  /**
   * Called with a reason code for every refused request; the reason never reaches the wire.
   *
   * @default none
   */
  onFailure?: OnFailure
  /**
   * Let CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) pass
   * untouched: browsers never send credentials on them, so refusing them breaks CORS
   * when auth is placed outside the CORS layer.
   *
   * @default true
   */
  skipPreflight?: boolean
  /**
   * `Cache-Control` set on authenticated responses that do not set their own, so a shared
   * cache never serves one user's response to another. `false` leaves it alone.
   *
   * @default 'private'
   */
  cacheControl?: string | false
}

/** An auth layer: a `Middleware` that also knows the type of the principal it produces. */
export interface AuthMiddleware<P> extends Middleware {
  /** `apiKey`, `basic`, `bearer`, `jwt`, or `anyOf`. */
  readonly scheme: SchemeName | 'anyOf'
  /** The principal this layer (or, for `anyOf`, one of its schemes) produced for `req`. */
  getPrincipal(req: IncomingMessage): P | undefined
}

/**
 * The error an auth layer throws to refuse a request. The stack's boundary renders it:
 * status, a fixed message (JSON or text by `Accept`) and `WWW-Authenticate`. `reason`,
 * `scheme` and `detail` are for `onError` and logs; they are never sent.
 */
export class AuthError extends HttpError {
  /** Why the request was refused. */
  readonly reason: FailureReason
  /** The scheme that refused it. */
  readonly scheme: SchemeName
  /** A sentence for logs; contains no secret. */
  readonly detail: string

  constructor(
    status: 400 | 401 | 403,
    reason: FailureReason,
    scheme: SchemeName,
    detail: string,
    challenges: readonly string[]
  ) {
    const headers: Record<string, string | readonly string[]> = {}
    if (challenges.length > 0) {
      headers['WWW-Authenticate'] = challenges.length === 1 ? (challenges[0] as string) : challenges
    }
    super(status, MESSAGES[status], { headers })
    this.name = 'AuthError'
    this.reason = reason
    this.scheme = scheme
    this.detail = detail
  }
}

// One message per status, whatever the reason: the body never tells which part was wrong.
const MESSAGES = {
  400: 'Malformed credentials',
  401: 'Authentication required',
  403: 'Insufficient scope',
} as const

/** RFC 6750 §3.1 error codes. @internal */
export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

/** A refused attempt. @internal */
export interface Failure {
  readonly ok: false
  readonly reason: FailureReason
  readonly status: 400 | 401 | 403
  readonly scheme: SchemeName
  readonly detail: string
  /** RFC 6750 error code, for Bearer challenges. */
  readonly error?: BearerError
  /** Required scopes, for `insufficient_scope`. */
  readonly scope?: string
  /** For `anyOf`: each scheme's own failure, in order. */
  readonly all?: readonly Failure[]
}

/** A successful attempt. @internal */
export interface Success<P> {
  readonly ok: true
  readonly principal: P
  readonly by: Scheme<unknown>
}

/** @internal */
export type Outcome<P> = Success<P> | Failure

/** What each scheme implements; the middleware around it is shared. @internal */
export interface Scheme<P> {
  readonly name: SchemeName
  /** Reads and checks the credentials. Never throws for bad input; `verify` errors propagate. */
  authenticate(req: IncomingMessage): Outcome<P> | Promise<Outcome<P>>
  /** The `WWW-Authenticate` challenge, with error parameters when `failure` is this scheme's. */
  challenge(failure: Failure | undefined): string
  /** The request header the credentials come from, for `Vary` (undefined for a query string). */
  readonly vary: string | undefined
}

/** Builds a failure. @internal */
export function fail(
  scheme: SchemeName,
  reason: FailureReason,
  status: 400 | 401 | 403,
  detail: string,
  extra?: { error?: BearerError; scope?: string }
): Failure {
  return { ok: false, reason, status, scheme, detail, ...extra }
}

// ---------------------------------------------------------------------------------------
// Per-request state: a symbol-keyed property on the request, read through typed accessors.

const kAuth: unique symbol = Symbol('shallot.auth')

interface AuthState {
  principal: unknown
  by: Scheme<unknown>
}

interface WithAuth extends IncomingMessage {
  [kAuth]?: AuthState
}

/**
 * The principal the innermost successful auth layer produced for this request, or
 * `undefined` when no auth layer accepted it (unprotected path, preflight, no auth layer).
 * Pass the type you configured; for a checked type use the layer's own `getPrincipal`.
 *
 * @example
 * ```ts
 * const auth = apiKey({ keys: { 'k-123': 'admin' } })
 * // in a handler: auth.getPrincipal(req) is `string | undefined`
 * // or: getPrincipal<string>(req)
 * ```
 */
export function getPrincipal<P = unknown>(req: IncomingMessage): P | undefined {
  return (req as WithAuth)[kAuth]?.principal as P | undefined
}

/** The scheme that authenticated this request (`'apiKey'`, `'basic'`, `'bearer'`, `'jwt'`), if any. */
export function getAuthScheme(req: IncomingMessage): SchemeName | undefined {
  return (req as WithAuth)[kAuth]?.by.name
}

// ---------------------------------------------------------------------------------------
// Shared option handling and the middleware around a scheme.

/**
 * What a `verify` function returns: the principal, or `false`/`null`/`undefined` to refuse
 * the credentials. May be a promise.
 */
export type Verdict<P> = P | false | null | undefined | Promise<P | false | null | undefined>

/** A compiled `paths`/`exclude` option. @internal */
export type PathPredicate = (req: IncomingMessage) => boolean

/** Resolved common options. @internal */
export interface Common {
  paths: PathPredicate | undefined
  exclude: PathPredicate | undefined
  caseSensitive: boolean
  onFailure: OnFailure | undefined
  skipPreflight: boolean
  cacheControl: string | false
  /** The common options the user set (refused inside `anyOf`, which has its own). */
  set: readonly string[]
}

const COMMON_KEYS = [
  'paths',
  'exclude',
  'caseSensitive',
  'onFailure',
  'skipPreflight',
  'cacheControl',
] as const

/** Refuses unknown option names, so a typo (`key` for `keys`) fails at start-up. @internal */
export function checkKeys(scheme: string, options: unknown, own: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `[@shallot/auth] ${scheme}() takes an options object, got ${describe(options)}`
    )
  }
  for (const key of Object.keys(options)) {
    if (!own.includes(key) && !(COMMON_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(`[@shallot/auth] option "${key}" of ${scheme}() is not a known option`)
    }
  }
}

/** Validates and resolves the common options. @internal */
export function resolveCommon(scheme: string, o: AuthOptions): Common {
  const caseSensitive = o.caseSensitive ?? true
  if (typeof caseSensitive !== 'boolean') {
    optionError(scheme, 'caseSensitive', 'must be a boolean', caseSensitive)
  }
  const skipPreflight = o.skipPreflight ?? true
  if (typeof skipPreflight !== 'boolean') {
    optionError(scheme, 'skipPreflight', 'must be a boolean', skipPreflight)
  }
  if (o.onFailure !== undefined && typeof o.onFailure !== 'function') {
    optionError(scheme, 'onFailure', 'must be a function', o.onFailure)
  }
  const cacheControl = o.cacheControl ?? 'private'
  if (
    cacheControl !== false &&
    (typeof cacheControl !== 'string' || !/^[\x20-\x7e]+$/.test(cacheControl))
  ) {
    optionError(
      scheme,
      'cacheControl',
      'must be a non-empty string of printable ASCII or false',
      cacheControl
    )
  }
  return {
    paths: compilePaths(scheme, 'paths', o.paths, caseSensitive),
    exclude: compilePaths(scheme, 'exclude', o.exclude, caseSensitive),
    caseSensitive,
    onFailure: o.onFailure,
    skipPreflight,
    cacheControl,
    set: COMMON_KEYS.filter((k) => o[k] !== undefined),
  }
}

/**
 * Compiles `paths`/`exclude` with the stack's own `pathMatcher`, so auth and `mount` check and
 * match prefixes on one code path (canonical, segment-aware).
 */
function compilePaths(
  scheme: string,
  name: string,
  value: unknown,
  caseSensitive: boolean
): PathPredicate | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length === 0) {
    optionError(scheme, name, 'must be a non-empty array of paths starting with "/"', value)
  }
  return pathMatcher(value as string[], {
    caseSensitive,
    label: `[@shallot/auth] option "${name}" of ${scheme}()`,
  })
}

function isPreflight(req: IncomingMessage): boolean {
  return (
    req.method === 'OPTIONS' &&
    req.headers.origin !== undefined &&
    req.headers['access-control-request-method'] !== undefined
  )
}

/** How the middleware produces its result and its challenges. @internal */
export interface Guard<P> {
  readonly name: SchemeName | 'anyOf'
  authenticate(req: IncomingMessage): Outcome<P> | Promise<Outcome<P>>
  /** The `WWW-Authenticate` values for a refusal. */
  challenges(failure: Failure): readonly string[]
  readonly vary: readonly string[]
  /** The schemes whose principals `getPrincipal` of this layer returns. */
  readonly members: ReadonlySet<Scheme<unknown>>
}

/** What `anyOf` needs to know about a layer it composes. @internal */
export interface Registered {
  schemes: readonly Scheme<unknown>[]
  common: Common
}

/** Layers built by this package, so `anyOf` can use their schemes. @internal */
export const registry: WeakMap<Function, Registered> = new WeakMap()

/** Builds the middleware around a guard. @internal */
export function buildMiddleware<P>(guard: Guard<P>, common: Common): AuthMiddleware<P> {
  const { paths, exclude, onFailure, skipPreflight, cacheControl } = common
  const vary = guard.vary
  const scopedByPath = paths !== undefined || exclude !== undefined

  // One listener per layer, not one closure per request.
  const onHead =
    cacheControl === false && vary.length === 0
      ? undefined
      : (res: ServerResponse): void => {
          if (cacheControl !== false && !res.hasHeader('cache-control')) {
            res.setHeader('cache-control', cacheControl)
          }
          if (vary.length === 1) appendVary(res, vary[0] as string)
          else if (vary.length > 1) appendVary(res, vary as string[])
        }

  const settle = (
    outcome: Outcome<P>,
    req: IncomingMessage,
    res: ServerResponse,
    next: Handler
  ): void | Promise<void> => {
    if (outcome.ok) {
      // The success outcome is the per-request state: no second object.
      ;(req as WithAuth)[kAuth] = outcome
      if (onHead !== undefined) onHeaders(res, onHead)
      return next(req, res)
    }
    if (onFailure !== undefined) {
      onFailure(outcome.reason, req, {
        scheme: outcome.scheme,
        status: outcome.status,
        detail: outcome.detail,
      })
    }
    throw new AuthError(
      outcome.status,
      outcome.reason,
      outcome.scheme,
      outcome.detail,
      guard.challenges(outcome)
    )
  }

  const middleware = function authMiddleware(next: Handler): Handler {
    const name = guard.name
    const handler = (req: IncomingMessage, res: ServerResponse): void | Promise<void> => {
      if (skipPreflight && isPreflight(req)) return next(req, res)
      if (scopedByPath) {
        if (paths !== undefined && !paths(req)) return next(req, res)
        if (exclude !== undefined && exclude(req)) return next(req, res)
      }
      const outcome = guard.authenticate(req)
      if (outcome instanceof Promise) return outcome.then((o) => settle(o, req, res, next))
      return settle(outcome, req, res, next)
    }
    Object.defineProperty(handler, 'name', { value: name })
    return handler
  }
  const members = guard.members
  const layer = Object.assign(middleware, {
    scheme: guard.name,
    getPrincipal(req: IncomingMessage): P | undefined {
      const state = (req as WithAuth)[kAuth]
      return state !== undefined && members.has(state.by) ? (state.principal as P) : undefined
    },
  })
  registry.set(layer, { schemes: [...members], common })
  return layer
}

/** Builds the layer for one scheme. @internal */
export function single<P>(scheme: Scheme<P>, common: Common): AuthMiddleware<P> {
  const s = scheme as Scheme<unknown>
  const guard: Guard<P> = {
    name: scheme.name,
    authenticate: (req) => scheme.authenticate(req),
    challenges: (failure) => [scheme.challenge(failure)],
    vary: scheme.vary === undefined ? [] : [scheme.vary],
    members: new Set([s]),
  }
  return buildMiddleware(guard, common)
}

/**
 * The success outcome of each entry of a secret table, made once at start-up and frozen: a
 * request's auth state is its outcome, so a request that passes allocates nothing.
 * @internal
 */
export function successesOf<P>(table: SecretTable<P>, by: Scheme<unknown>): Success<P>[] {
  const out: Success<P>[] = []
  for (let i = 0; i < table.size; i++) {
    out.push(Object.freeze({ ok: true as const, principal: table.principalAt(i), by }))
  }
  return out
}

/** A principal from a verify function: `false`, `null` and `undefined` mean "refused". @internal */
export function accepted<P>(value: P | false | null | undefined): value is P {
  return value !== false && value !== null && value !== undefined
}

/** Checks a verify option. @internal */
export function checkFunction(scheme: string, name: string, value: unknown): void {
  if (typeof value !== 'function') optionError(scheme, name, 'must be a function', value)
}
