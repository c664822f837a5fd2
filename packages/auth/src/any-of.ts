import type { IncomingMessage } from 'node:http'
import {
  type AuthMiddleware,
  type AuthOptions,
  buildMiddleware,
  checkKeys,
  type Failure,
  type Guard,
  type Outcome,
  registry,
  resolveCommon,
  type Scheme,
} from './core.js'

/** The principal type of an auth layer. */
export type PrincipalOf<T> = T extends AuthMiddleware<infer P> ? P : never

/**
 * Accepts a request that any of the given auth layers accepts, tried in order; the first
 * success wins and its principal is the request's. When none accepts, the response is a 401
 * whose `WWW-Authenticate` carries every scheme's challenge (RFC 9110 §11.6.1). If one
 * scheme found credentials but refused them, its status and error are reported (e.g. 400
 * `invalid_request` or 403 `insufficient_scope` for Bearer), the others' challenges alongside.
 *
 * Put `paths`, `exclude`, `onFailure`, `skipPreflight` and `cacheControl` on `anyOf`, not on
 * the layers it composes (that is refused at start-up).
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/auth#readme
 * @example
 * ```ts
 * anyOf({ paths: ['/api'] }, apiKey({ keys: { 'k-123': 'ci' } }), jwt({ jwks, algorithms: ['RS256'] }))
 * ```
 */
export function anyOf<const T extends readonly AuthMiddleware<unknown>[]>(
  ...layers: T
): AuthMiddleware<PrincipalOf<T[number]>>
export function anyOf<const T extends readonly AuthMiddleware<unknown>[]>(
  options: AuthOptions,
  ...layers: T
): AuthMiddleware<PrincipalOf<T[number]>>
export function anyOf(...args: (AuthOptions | AuthMiddleware<unknown>)[]): AuthMiddleware<unknown> {
  const first = args[0]
  const options: AuthOptions =
    typeof first === 'object' && first !== null ? (args.shift() as AuthOptions) : {}
  checkKeys('anyOf', options, [])
  const common = resolveCommon('anyOf', options)
  const schemes: Scheme<unknown>[] = []
  args.forEach((layer, i) => {
    const entry = typeof layer === 'function' ? registry.get(layer) : undefined
    if (entry === undefined) {
      throw new TypeError(
        `[@shallot/auth] anyOf(): argument ${i} is not an auth layer of @shallot/auth (apiKey, basic, bearer, jwt or anyOf)`
      )
    }
    if (entry.common.set.length > 0) {
      throw new TypeError(
        `[@shallot/auth] anyOf(): argument ${i} sets option "${entry.common.set[0]}"; set it on anyOf() instead`
      )
    }
    for (const s of entry.schemes) {
      if (schemes.includes(s)) {
        throw new TypeError(`[@shallot/auth] anyOf(): argument ${i} is given twice`)
      }
      schemes.push(s)
    }
  })
  if (schemes.length === 0) {
    throw new TypeError('[@shallot/auth] anyOf() needs at least one auth layer')
  }

  const combine = (failures: Failure[]): Failure => {
    // The first scheme that saw its own credentials speaks; otherwise "no credentials".
    const picked = failures.find((f) => f.reason !== 'missing') ?? (failures[0] as Failure)
    return { ...picked, all: failures }
  }

  const run = (
    req: IncomingMessage,
    from: number,
    failures: Failure[]
  ): Outcome<unknown> | Promise<Outcome<unknown>> => {
    for (let i = from; i < schemes.length; i++) {
      const outcome = (schemes[i] as Scheme<unknown>).authenticate(req)
      if (outcome instanceof Promise) {
        return outcome.then((o) => {
          if (o.ok) return o
          failures.push(o)
          return run(req, i + 1, failures)
        })
      }
      if (outcome.ok) return outcome
      failures.push(outcome)
    }
    return combine(failures)
  }

  const vary = [...new Set(schemes.map((s) => s.vary).filter((v) => v !== undefined))]
  const guard: Guard<unknown> = {
    name: 'anyOf',
    authenticate: (req) => run(req, 0, []),
    challenges: (failure) =>
      schemes.map((s, i) => {
        const own = failure.all?.[i]
        return s.challenge(own === undefined || own.reason === 'missing' ? undefined : own)
      }),
    vary,
    members: new Set(schemes),
  }
  return buildMiddleware(guard, common)
}
