import type { IncomingMessage } from 'node:http'
import { checkRealm, optionError, quote, TOKEN } from './challenge.js'
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
  single,
  successesOf,
  type Verdict,
} from './core.js'
import { secretTable } from './secrets.js'

/** Options of {@link apiKey} shared by its three forms. */
export interface ApiKeyBaseOptions extends AuthOptions {
  /**
   * The request header carrying the key; `false` to read the key only from `query`.
   *
   * @default 'x-api-key'
   */
  header?: string | false
  /**
   * A query-string parameter that may carry the key when the header is absent, e.g.
   * `'api_key'`. Off by default: URLs end up in access logs, proxies and browser history.
   *
   * @default undefined (header only)
   */
  query?: string
  /**
   * The realm of the `ApiKey` challenge sent with every 401.
   *
   * @default 'Restricted'
   */
  realm?: string
}

/** `apiKey` with a list of keys: the principal is the key's position in the list (from 0). */
export interface ApiKeyListOptions extends ApiKeyBaseOptions {
  /** Valid keys. Hashed at start-up; the raw keys are not kept. */
  keys: readonly string[]
  verify?: never
}

/** `apiKey` with keys mapped to principals, e.g. `{ 'k-123': 'admin' }`. */
export interface ApiKeyMapOptions<P> extends ApiKeyBaseOptions {
  /** Valid keys, each mapped to its principal. Hashed at start-up; the raw keys are not kept. */
  keys: Readonly<Record<string, P>> | ReadonlyMap<string, P>
  verify?: never
}

/** `apiKey` with a function deciding. */
export interface ApiKeyVerifyOptions<P> extends ApiKeyBaseOptions {
  /**
   * Returns the principal for a key, or `false`/`null`/`undefined` to refuse it. May be async.
   * A throw is a 500 through the stack's boundary, not a 401. Compare secrets with
   * `safeEqual`, not `===`.
   */
  verify: (key: string, req: IncomingMessage) => Verdict<P>
  keys?: never
}

/** Options of {@link apiKey}: `keys` or `verify`, not both. */
export type ApiKeyOptions<P = unknown> =
  | ApiKeyListOptions
  | ApiKeyMapOptions<P>
  | ApiKeyVerifyOptions<P>

const OWN = ['header', 'query', 'realm', 'keys', 'verify']

/**
 * API-key authentication from a header (`X-API-Key` by default) or, opt-in, a query
 * parameter. A missing and a wrong key get the same 401, with
 * `WWW-Authenticate: ApiKey realm="…", header="x-api-key"`.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/auth#readme
 * @example
 * ```ts
 * const app = stack(apiKey({ keys: { 'k-123': 'admin' }, paths: ['/api'] }))(handler)
 * ```
 */
export function apiKey(options: ApiKeyListOptions): AuthMiddleware<number>
export function apiKey<P>(options: ApiKeyMapOptions<P> | ApiKeyVerifyOptions<P>): AuthMiddleware<P>
export function apiKey(options: ApiKeyOptions<unknown>): AuthMiddleware<unknown> {
  checkKeys('apiKey', options, OWN)
  const common = resolveCommon('apiKey', options)
  const realm = checkRealm('apiKey', options.realm, 'Restricted')
  const header = options.header ?? 'x-api-key'
  if (header !== false && (typeof header !== 'string' || !TOKEN.test(header))) {
    optionError('apiKey', 'header', 'must be a header name or false', header)
  }
  const query = options.query
  if (query !== undefined && (typeof query !== 'string' || query === '')) {
    optionError('apiKey', 'query', 'must be a non-empty string', query)
  }
  if (header === false && query === undefined) {
    optionError('apiKey', 'header', 'may be false only when "query" is set', header)
  }
  if ((options.keys === undefined) === (options.verify === undefined)) {
    optionError('apiKey', 'keys', 'or "verify" must be given, not both')
  }
  const lower = header === false ? undefined : header.toLowerCase()
  const table = options.keys === undefined ? undefined : secretTable('apiKey', 'keys', options.keys)
  const verify = options.verify
  if (verify !== undefined) checkFunction('apiKey', 'verify', verify)

  const params = [`realm=${quote(realm)}`]
  if (lower !== undefined) params.push(`header=${quote(lower)}`)
  if (query !== undefined) params.push(`query=${quote(query)}`)
  const challenge = `ApiKey ${params.join(', ')}`

  const scheme: Scheme<unknown> = {
    name: 'apiKey',
    vary: header === false ? undefined : header,
    challenge: () => challenge,
    authenticate(req) {
      let key: string | undefined
      if (lower !== undefined) {
        const value = req.headers[lower]
        if (typeof value === 'string' && value !== '') key = value
      }
      if (key === undefined && query !== undefined) {
        const found = fromQuery(req.url ?? '', query)
        if (found === null) {
          return fail('apiKey', 'malformed', 401, `query parameter "${query}" is repeated`)
        }
        key = found
      }
      if (key === undefined) return fail('apiKey', 'missing', 401, 'no API key in the request')
      if (table !== undefined) {
        const i = table.indexOf(digest(key))
        if (i === -1) return unknownKey
        return successes[i] as Outcome<unknown>
      }
      const result = (verify as ApiKeyVerifyOptions<unknown>['verify'])(key, req)
      return isThenable(result) ? Promise.resolve(result).then((p) => decide(p)) : decide(result)
    },
  }
  const refused: Failure = fail('apiKey', 'invalid', 401, 'verify refused the API key')
  const unknownKey: Failure = fail('apiKey', 'invalid', 401, 'the API key is not a known key')
  // One immutable outcome per key, made once: it is the request's auth state.
  const successes = table === undefined ? [] : successesOf(table, scheme)
  const decide = (p: unknown): Outcome<unknown> =>
    accepted(p) ? { ok: true, principal: p, by: scheme } : refused
  return single(scheme, common)
}

/** The single value of a query parameter: undefined if absent or empty, null if repeated. */
function fromQuery(url: string, name: string): string | undefined | null {
  const q = url.indexOf('?')
  if (q === -1) return undefined
  const all = new URLSearchParams(url.slice(q + 1)).getAll(name)
  if (all.length > 1) return null
  const value = all[0]
  return value === undefined || value === '' ? undefined : value
}

/** @internal */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}
