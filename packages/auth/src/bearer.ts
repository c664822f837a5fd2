import type { IncomingMessage } from 'node:http'
import { isThenable } from './api-key.js'
import { checkRealm, optionError, quote, SCOPE_TOKEN } from './challenge.js'
import { digest } from './compare.js'
import {
  type AuthMiddleware,
  type AuthOptions,
  accepted,
  checkFunction,
  checkKeys,
  type Failure,
  fail,
  type Outcome,
  resolveCommon,
  type Scheme,
  type SchemeName,
  single,
  successesOf,
  type Verdict,
} from './core.js'
import { secretTable } from './secrets.js'

/** Options shared by {@link bearer} and `jwt`. */
export interface BearerBaseOptions<P> extends AuthOptions {
  /**
   * The realm of the `Bearer` challenge.
   *
   * @default 'Restricted'
   */
  realm?: string
  /**
   * Scopes the token must all have, or a function of the request returning them (e.g. by
   * method). A valid token without them gets 403 `insufficient_scope` (RFC 6750 §3.1).
   *
   * @default none
   */
  scopes?: readonly string[] | ((req: IncomingMessage) => readonly string[])
  /**
   * The scopes a principal has. By default, read from an object principal's `scope`
   * (space-separated string, RFC 9068), `scp` or `scopes` (string or list).
   */
  getScopes?: (principal: P) => string | readonly string[] | undefined
  /**
   * The longest token accepted, in bytes; longer ones get 401 `invalid_token` before any
   * work is done on them.
   *
   * @default 8192
   */
  maxTokenSize?: number
}

/** `bearer` with a list of tokens: the principal is the token's position in the list (from 0). */
export interface BearerListOptions extends BearerBaseOptions<number> {
  /** Valid tokens. Hashed at start-up; the raw tokens are not kept. */
  tokens: readonly string[]
  verify?: never
}

/** `bearer` with tokens mapped to principals. */
export interface BearerMapOptions<P> extends BearerBaseOptions<P> {
  /** Valid tokens, each mapped to its principal. Hashed at start-up. */
  tokens: Readonly<Record<string, P>> | ReadonlyMap<string, P>
  verify?: never
}

/** `bearer` with a function deciding. */
export interface BearerVerifyOptions<P> extends BearerBaseOptions<P> {
  /**
   * Returns the principal for a token, or `false`/`null`/`undefined` to refuse it (401
   * `invalid_token`). May be async. A throw is a 500 through the stack's boundary.
   */
  verify: (token: string, req: IncomingMessage) => Verdict<P>
  tokens?: never
}

/** Options of {@link bearer}: `tokens` or `verify`, not both. */
export type BearerOptions<P = unknown> =
  | BearerListOptions
  | BearerMapOptions<P>
  | BearerVerifyOptions<P>

/** Option names of BearerBaseOptions. @internal */
export const BEARER_KEYS: readonly string[] = ['realm', 'scopes', 'getScopes', 'maxTokenSize']

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

// RFC 6750 §3.1: the descriptions are fixed per error code, so they reveal nothing the code does not.
const DESCRIPTIONS = {
  invalid_request: 'The request is missing a required parameter or is otherwise malformed',
  invalid_token: 'The access token is invalid',
  insufficient_scope: 'The request requires higher privileges than provided by the access token',
} as const

/** Resolved Bearer options. @internal */
export interface BearerCore<P> {
  realm: string
  maxTokenSize: number
  requiredScopes: ((req: IncomingMessage) => readonly string[]) | undefined
  getScopes: (principal: P) => string | readonly string[] | undefined
}

/** Validates the options shared by `bearer` and `jwt`. @internal */
export function resolveBearer<P>(name: SchemeName, o: BearerBaseOptions<P>): BearerCore<P> {
  const realm = checkRealm(name, o.realm, 'Restricted')
  const maxTokenSize = o.maxTokenSize ?? 8192
  if (!Number.isInteger(maxTokenSize) || maxTokenSize < 1) {
    optionError(name, 'maxTokenSize', 'must be a positive integer', maxTokenSize)
  }
  let requiredScopes: ((req: IncomingMessage) => readonly string[]) | undefined
  const scopes: unknown = o.scopes
  if (typeof scopes === 'function') {
    requiredScopes = scopes as (req: IncomingMessage) => readonly string[]
  } else if (scopes !== undefined) {
    if (
      !Array.isArray(scopes) ||
      !scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))
    ) {
      optionError(name, 'scopes', 'must be a list of RFC 6749 scope tokens or a function', scopes)
    }
    const fixed: readonly string[] = [...scopes]
    if (fixed.length > 0) requiredScopes = () => fixed
  }
  if (o.getScopes !== undefined) checkFunction(name, 'getScopes', o.getScopes)
  return {
    realm,
    maxTokenSize,
    requiredScopes,
    getScopes: o.getScopes ?? (defaultScopes as (principal: P) => readonly string[]),
  }
}

/** Scopes from `scope`, `scp` or `scopes` of an object principal (a JWT payload, typically). */
function defaultScopes(principal: unknown): readonly string[] {
  if (typeof principal !== 'object' || principal === null) return []
  const o = principal as { scope?: unknown; scp?: unknown; scopes?: unknown }
  for (const value of [o.scope, o.scp, o.scopes]) {
    if (typeof value === 'string') return value.split(' ')
    if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string')
  }
  return []
}

/**
 * The Bearer scheme around a token check: reads `Authorization: Bearer <token>`, enforces
 * the size cap and the scopes, and produces RFC 6750 challenges. @internal
 */
export function bearerScheme<P>(
  name: SchemeName,
  core: BearerCore<P>,
  check: (token: string, req: IncomingMessage) => Outcome<P> | Promise<Outcome<P>>
): Scheme<P> {
  const { realm, maxTokenSize, requiredScopes, getScopes } = core
  const base = `Bearer realm=${quote(realm)}`

  const withScopes = (outcome: Outcome<P>, req: IncomingMessage): Outcome<P> => {
    if (!outcome.ok || requiredScopes === undefined) return outcome
    const required = requiredScopes(req)
    if (required.length === 0) return outcome
    const had = getScopes(outcome.principal)
    const have = typeof had === 'string' ? had.split(' ') : (had ?? [])
    const missing = required.filter((s) => !have.includes(s))
    if (missing.length === 0) return outcome
    return fail(name, 'insufficient_scope', 403, `the token lacks scope ${missing.join(' ')}`, {
      error: 'insufficient_scope',
      scope: required.join(' '),
    })
  }

  return {
    name,
    vary: 'Authorization',
    challenge(failure: Failure | undefined): string {
      // RFC 6750 §3: no error code when the request carried no credentials for this scheme.
      if (failure === undefined || failure.error === undefined) return base
      let value = `${base}, error=${quote(failure.error)}, error_description=${quote(DESCRIPTIONS[failure.error])}`
      if (failure.scope !== undefined) value += `, scope=${quote(failure.scope)}`
      return value
    },
    authenticate(req) {
      const header = req.headers.authorization
      if (header === undefined || header === '') {
        return fail(name, 'missing', 401, 'no Authorization header')
      }
      const space = header.indexOf(' ')
      const scheme = space === -1 ? header : header.slice(0, space)
      if (scheme.toLowerCase() !== 'bearer') {
        return fail(name, 'missing', 401, 'the Authorization scheme is not Bearer')
      }
      const token = space === -1 ? '' : header.slice(space + 1).trimStart()
      if (token.length > maxTokenSize) {
        return fail(name, 'oversized', 401, `the token is longer than ${maxTokenSize} bytes`, {
          error: 'invalid_token',
        })
      }
      if (!B64TOKEN.test(token)) {
        return fail(name, 'malformed', 400, 'the Bearer token is empty or not a b64token', {
          error: 'invalid_request',
        })
      }
      const outcome = check(token, req)
      return outcome instanceof Promise
        ? outcome.then((o) => withScopes(o, req))
        : withScopes(outcome, req)
    },
  }
}

/**
 * Bearer-token authentication (RFC 6750) with static tokens or a verify function.
 * No credentials: 401 with `WWW-Authenticate: Bearer realm="…"`; a malformed header: 400
 * `invalid_request`; a wrong token: 401 `invalid_token`; missing scopes: 403
 * `insufficient_scope` with `scope`.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/auth#readme
 * @example
 * ```ts
 * const app = stack(bearer({ tokens: { [process.env.CI_TOKEN!]: 'ci' } }))(handler)
 * ```
 */
export function bearer(options: BearerListOptions): AuthMiddleware<number>
export function bearer<P>(options: BearerMapOptions<P> | BearerVerifyOptions<P>): AuthMiddleware<P>
export function bearer(options: BearerOptions<unknown>): AuthMiddleware<unknown> {
  checkKeys('bearer', options, [...BEARER_KEYS, 'tokens', 'verify'])
  const common = resolveCommon('bearer', options)
  const core = resolveBearer('bearer', options as BearerBaseOptions<unknown>)
  if ((options.tokens === undefined) === (options.verify === undefined)) {
    optionError('bearer', 'tokens', 'or "verify" must be given, not both')
  }
  const table =
    options.tokens === undefined ? undefined : secretTable('bearer', 'tokens', options.tokens)
  const verify = options.verify
  if (verify !== undefined) checkFunction('bearer', 'verify', verify)

  const refused: Failure = fail('bearer', 'invalid', 401, 'the token is not a valid token', {
    error: 'invalid_token',
  })
  let scheme: Scheme<unknown>
  const decide = (p: unknown): Outcome<unknown> =>
    accepted(p) ? { ok: true, principal: p, by: scheme } : refused
  scheme = bearerScheme('bearer', core, (token, req) => {
    if (table !== undefined) {
      const i = table.indexOf(digest(token))
      return i === -1 ? refused : (successes[i] as Outcome<unknown>)
    }
    const result = (verify as BearerVerifyOptions<unknown>['verify'])(token, req)
    return isThenable(result) ? Promise.resolve(result).then(decide) : decide(result)
  })
  // One immutable outcome per token, made once: it is the request's auth state.
  const successes = table === undefined ? [] : successesOf(table, scheme)
  return single(scheme, common)
}
