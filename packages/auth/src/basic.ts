import { isUtf8 } from 'node:buffer'
import type { IncomingMessage } from 'node:http'
import { isThenable } from './api-key.js'
import { checkRealm, optionError, quote } from './challenge.js'
import { digest, indexOfDigest } from './compare.js'
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
  type Verdict,
} from './core.js'

/** Options of {@link basic} shared by its two forms. */
export interface BasicBaseOptions extends AuthOptions {
  /**
   * The realm of the challenge (RFC 7617 §2: required). Browsers may show it in the prompt.
   *
   * @default 'Restricted'
   */
  realm?: string
  /**
   * The `charset` parameter of the challenge (RFC 7617 §2.1): tells the client to send the
   * user-id and password as UTF-8. Credentials are always decoded as UTF-8 and normalised to
   * NFC; `false` only omits the parameter.
   *
   * @default 'UTF-8'
   * @see https://www.rfc-editor.org/rfc/rfc7617#section-2.1
   */
  charset?: 'UTF-8' | false
}

/** `basic` with a fixed user list: the principal is the user-id. */
export interface BasicUsersOptions extends BasicBaseOptions {
  /**
   * User-id → password. Passwords are hashed at start-up (the raw values are not kept);
   * every request compares against every user. A user-id cannot contain `:`.
   */
  users: Readonly<Record<string, string>>
  verify?: never
}

/** `basic` with a function deciding. */
export interface BasicVerifyOptions<P> extends BasicBaseOptions {
  /**
   * Returns the principal for a user-id and password (both NFC-normalised UTF-8; the password
   * may contain `:`), or `false`/`null`/`undefined` to refuse. May be async. A throw is a 500
   * through the stack's boundary, not a 401. Compare secrets with `safeEqual`, not `===`.
   */
  verify: (user: string, password: string, req: IncomingMessage) => Verdict<P>
  users?: never
}

/** Options of {@link basic}: `users` or `verify`, not both. */
export type BasicOptions<P = unknown> = BasicUsersOptions | BasicVerifyOptions<P>

const OWN = ['realm', 'charset', 'users', 'verify']

// RFC 7617 §2: user-id and password MUST NOT contain control characters (Unicode Cc).
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/

// biome-ignore lint/suspicious/noControlCharactersInRegex: a range of code points, not text
const ASCII = /^[\x00-\x7f]*$/

// RFC 7617 §2 / RFC 4648 §4: the token68 of Basic is padded base64.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * HTTP Basic authentication (RFC 7617). Every failure, missing or wrong, is the same 401
 * with `WWW-Authenticate: Basic realm="…", charset="UTF-8"`; the body never says whether the
 * user-id or the password was wrong.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/auth#readme
 * @example
 * ```ts
 * const app = stack(basic({ users: { alice: 'correct horse' }, realm: 'admin' }))(handler)
 * ```
 */
export function basic(options: BasicUsersOptions): AuthMiddleware<string>
export function basic<P>(options: BasicVerifyOptions<P>): AuthMiddleware<P>
export function basic(options: BasicOptions<unknown>): AuthMiddleware<unknown> {
  checkKeys('basic', options, OWN)
  const common = resolveCommon('basic', options)
  const realm = checkRealm('basic', options.realm, 'Restricted')
  const charset = options.charset ?? 'UTF-8'
  if (charset !== 'UTF-8' && charset !== false) {
    optionError('basic', 'charset', 'must be "UTF-8" or false', charset)
  }
  if ((options.users === undefined) === (options.verify === undefined)) {
    optionError('basic', 'users', 'or "verify" must be given, not both')
  }
  const verify = options.verify
  if (verify !== undefined) checkFunction('basic', 'verify', verify)

  const names: string[] = []
  // digest("user-id:password") per user: RFC 7617 forbids ":" in the user-id, so the pair is
  // unambiguous, and a request needs one hash of its decoded credentials, not two.
  const pairDigests: string[] = []
  if (options.users !== undefined) {
    const users: unknown = options.users
    if (typeof users !== 'object' || users === null || Array.isArray(users)) {
      optionError('basic', 'users', 'must be an object mapping user-id → password')
    }
    for (const [rawUser, password] of Object.entries(users)) {
      const user = rawUser.normalize('NFC')
      if (user.includes(':') || CONTROL.test(user)) {
        optionError('basic', 'users', 'holds a user-id with ":" or a control character', rawUser)
      }
      if (names.includes(user)) {
        optionError('basic', 'users', 'holds the same user-id twice (after NFC)', rawUser)
      }
      if (typeof password !== 'string' || password === '' || CONTROL.test(password)) {
        // Never echo the password.
        optionError(
          'basic',
          'users',
          `must map "${user}" to a non-empty password without control characters`
        )
      }
      names.push(user)
      pairDigests.push(digest(`${user}:${password.normalize('NFC')}`))
    }
    if (names.length === 0) optionError('basic', 'users', 'must hold at least one user')
  }

  const challenge =
    charset === false
      ? `Basic realm=${quote(realm)}`
      : `Basic realm=${quote(realm)}, charset=${quote(charset)}`

  const refused: Failure = fail('basic', 'invalid', 401, 'wrong user-id or password')

  const scheme: Scheme<unknown> = {
    name: 'basic',
    vary: 'Authorization',
    challenge: () => challenge,
    authenticate(req) {
      const credentials = parse(req.headers.authorization)
      if (typeof credentials !== 'string') return credentials
      if (verify === undefined) {
        // Every user is compared, without early exit.
        const hit = indexOfDigest(pairDigests, digest(credentials))
        if (hit === -1) return refused
        return successes[hit] as Outcome<unknown>
      }
      const colon = credentials.indexOf(':')
      const user = credentials.slice(0, colon)
      const password = credentials.slice(colon + 1)
      const result = verify(user, password, req)
      return isThenable(result) ? Promise.resolve(result).then((p) => decide(p)) : decide(result)
    },
  }
  // One immutable outcome per user, made once: it is the request's auth state.
  const successes = names.map((principal) =>
    Object.freeze({ ok: true as const, principal, by: scheme })
  )
  const decide = (p: unknown): Outcome<unknown> =>
    accepted(p) ? { ok: true, principal: p, by: scheme } : refused
  return single(scheme, common)
}

/**
 * Reads `Authorization: Basic <base64(user-id ":" password)>` (RFC 7617 §2). The scheme is
 * case-insensitive (RFC 9110 §11.1); the password is everything after the first colon.
 */
/**
 * The decoded `user-id:password`, NFC-normalised (":" is a starter that no composition
 * crosses, so this equals normalising each part). A Failure when it cannot be read.
 */
function parse(header: string | undefined): string | Failure {
  if (header === undefined || header === '') {
    return fail('basic', 'missing', 401, 'no Authorization header')
  }
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  if (scheme.toLowerCase() !== 'basic') {
    return fail('basic', 'missing', 401, 'the Authorization scheme is not Basic')
  }
  const token = space === -1 ? '' : header.slice(space + 1).trimStart()
  if (token === '' || !BASE64.test(token)) {
    return fail('basic', 'malformed', 401, 'the Basic credentials are not valid base64')
  }
  // atob gives one character per byte: when every byte is ASCII, that is the UTF-8 text
  // already, and ASCII is NFC. Other bytes take the UTF-8 path below.
  let decoded = atob(token)
  const ascii = ASCII.test(decoded)
  if (!ascii) {
    const bytes = Buffer.from(token, 'base64')
    if (!isUtf8(bytes)) {
      return fail('basic', 'malformed', 401, 'the Basic credentials are not valid UTF-8')
    }
    decoded = bytes.toString('utf8')
  }
  const colon = decoded.indexOf(':')
  if (colon === -1) {
    return fail('basic', 'malformed', 401, 'the Basic credentials have no ":" after the user-id')
  }
  if (CONTROL.test(decoded)) {
    return fail('basic', 'malformed', 401, 'the Basic credentials contain control characters')
  }
  return ascii ? decoded : decoded.normalize('NFC')
}
