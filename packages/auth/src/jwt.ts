import {
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  KeyObject,
  type webcrypto,
} from 'node:crypto'
import { HttpError } from '@shallot/stack'
import {
  createRemoteJWKSet,
  errors,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  type RemoteJWKSetOptions,
} from 'jose'
import { BEARER_KEYS, type BearerBaseOptions, bearerScheme, resolveBearer } from './bearer.js'
import { describe, optionError } from './challenge.js'
import {
  type AuthMiddleware,
  checkKeys,
  fail,
  type Outcome,
  resolveCommon,
  type Scheme,
  single,
} from './core.js'

/** JWS algorithms `jwt` accepts in its allowlist (`none` never). */
export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519'

/** A public (or private, of which the public half is used) key, or a shared secret as a key. */
export type JwtKey = KeyObject | webcrypto.CryptoKey | string | JsonWebKey

/** Options of {@link jwt} shared by its three key sources. */
export interface JwtBaseOptions<P extends JWTPayload = JWTPayload> extends BearerBaseOptions<P> {
  /**
   * The algorithms a token may be signed with: required, never taken from the token
   * (RFC 8725 §3.1). `none` is refused, and so is mixing HMAC (`HS*`) with public-key
   * algorithms or using an algorithm the key cannot do.
   *
   * @example ['RS256']
   */
  algorithms: readonly JwtAlgorithm[]
  /**
   * Accepted `iss` claim value(s); when set, a token without `iss` is refused.
   *
   * @default not checked
   */
  issuer?: string | readonly string[]
  /**
   * Accepted `aud` claim value(s); when set, a token without a matching `aud` is refused.
   *
   * @default not checked
   */
  audience?: string | readonly string[]
  /**
   * Seconds of clock skew tolerated when checking `exp`, `nbf` and `iat`.
   *
   * @default 0
   */
  clockTolerance?: number
  /**
   * Required `typ` header value, e.g. `'at+jwt'` for RFC 9068 access tokens.
   *
   * @default not checked
   */
  typ?: string
  /**
   * Claims a token must carry.
   *
   * @default ['exp']
   */
  requiredClaims?: readonly string[]
}

/** `jwt` with a shared secret (HMAC: `HS256`, `HS384`, `HS512`). */
export interface JwtSecretOptions<P extends JWTPayload = JWTPayload> extends JwtBaseOptions<P> {
  /**
   * The HMAC secret, at least as long as the hash (32 bytes for HS256, 48 for HS384, 64 for
   * HS512; RFC 7518 §3.2).
   */
  secret: string | Uint8Array
  key?: never
  jwks?: never
}

/** `jwt` with one key. */
export interface JwtKeyOptions<P extends JWTPayload = JWTPayload> extends JwtBaseOptions<P> {
  /**
   * The verification key: a `KeyObject`, a `CryptoKey`, a PEM string (SPKI, certificate, or a
   * private key whose public half is used) or a JWK.
   */
  key: JwtKey
  secret?: never
  jwks?: never
}

/** `jwt` with a remote JSON Web Key Set. */
export interface JwtJwksOptions<P extends JWTPayload = JWTPayload> extends JwtBaseOptions<P> {
  /**
   * URL of a JSON Web Key Set (`https:`; `http:` only on loopback). Fetched on first use,
   * cached, and fetched again when a token names an unknown `kid` (at most once per
   * `cooldownDuration`), via jose's `createRemoteJWKSet`.
   */
  jwks: string | URL
  /**
   * Fetch and cache settings of the key set.
   *
   * @default { timeoutDuration: 5000, cooldownDuration: 30000, cacheMaxAge: 600000 }
   */
  jwksOptions?: Pick<
    RemoteJWKSetOptions,
    'timeoutDuration' | 'cooldownDuration' | 'cacheMaxAge' | 'headers'
  >
  secret?: never
  key?: never
}

/** Options of {@link jwt}: exactly one of `secret`, `key` or `jwks`. */
export type JwtOptions<P extends JWTPayload = JWTPayload> =
  | JwtSecretOptions<P>
  | JwtKeyOptions<P>
  | JwtJwksOptions<P>

const HMAC: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }
const BY_KEY_TYPE: Record<string, readonly string[]> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  ec: ['ES256', 'ES384', 'ES512'],
  ed25519: ['EdDSA', 'Ed25519'],
}
const EC_CURVES: Record<string, string> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
}
const ALL = new Set([...Object.keys(HMAC), ...Object.values(BY_KEY_TYPE).flat()])
const OWN = [
  ...BEARER_KEYS,
  'algorithms',
  'issuer',
  'audience',
  'clockTolerance',
  'typ',
  'requiredClaims',
  'secret',
  'key',
  'jwks',
  'jwksOptions',
]

/**
 * JWT bearer tokens (RFC 7519, RFC 8725), verified with `jose`: `Authorization: Bearer <jwt>`
 * only, against an explicit algorithm allowlist, with `iss`, `aud`, `exp`/`nbf` and clock
 * tolerance checked. The principal is the verified payload. Failures are RFC 6750 errors,
 * like {@link bearer}'s.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/auth#readme
 * @example
 * ```ts
 * jwt({ jwks: 'https://id.example.com/.well-known/jwks.json', algorithms: ['RS256'],
 *   issuer: 'https://id.example.com/', audience: 'api' })
 * ```
 */
export function jwt<P extends JWTPayload = JWTPayload>(options: JwtOptions<P>): AuthMiddleware<P> {
  checkKeys('jwt', options, OWN)
  const common = resolveCommon('jwt', options)
  const core = resolveBearer<P>('jwt', options)
  const algorithms = checkAlgorithms(options.algorithms)
  const sources = [options.secret, options.key, options.jwks].filter((s) => s !== undefined)
  if (sources.length !== 1) {
    optionError('jwt', 'secret', 'or "key" or "jwks" must be given, exactly one')
  }

  const verifyOptions: JWTVerifyOptions = { algorithms }
  if (options.issuer !== undefined) {
    verifyOptions.issuer = checkStrings('issuer', options.issuer)
  }
  if (options.audience !== undefined) {
    verifyOptions.audience = checkStrings('audience', options.audience)
  }
  if (options.clockTolerance !== undefined) {
    const t = options.clockTolerance
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
      optionError('jwt', 'clockTolerance', 'must be a non-negative number of seconds', t)
    }
    verifyOptions.clockTolerance = t
  }
  if (options.typ !== undefined) {
    if (typeof options.typ !== 'string' || options.typ === '') {
      optionError('jwt', 'typ', 'must be a non-empty string', options.typ)
    }
    verifyOptions.typ = options.typ
  }
  verifyOptions.requiredClaims = [...checkClaims(options.requiredClaims ?? ['exp'])]

  let verify: (token: string) => Promise<JWTPayload>
  const remote = options.jwks !== undefined
  if (options.jwks !== undefined) {
    const url = checkJwksUrl(options.jwks)
    if (algorithms.some((a) => a in HMAC)) {
      optionError('jwt', 'algorithms', 'cannot hold HMAC algorithms (HS*) with "jwks"', algorithms)
    }
    const getKey = createRemoteJWKSet(url, checkJwksOptions(options.jwksOptions))
    verify = async (token) => (await jwtVerify(token, getKey, verifyOptions)).payload
  } else {
    if ('jwksOptions' in options && options.jwksOptions !== undefined) {
      optionError('jwt', 'jwksOptions', 'needs "jwks"')
    }
    const key =
      options.secret !== undefined
        ? secretKey(options.secret, algorithms)
        : publicKey(options.key as JwtKey, algorithms)
    verify = async (token) => (await jwtVerify(token, key, verifyOptions)).payload
  }

  let scheme: Scheme<P>
  const check = (token: string): Promise<Outcome<P>> =>
    verify(token).then(
      (payload): Outcome<P> => ({
        ok: true,
        principal: payload as P,
        by: scheme as Scheme<unknown>,
      }),
      (err: unknown) => refuse(err, remote)
    )
  scheme = bearerScheme<P>('jwt', core, check)
  return single(scheme, common)
}

/** Maps a jose error to a failure; anything else is the server's problem. */
function refuse(err: unknown, remote: boolean): Outcome<never> {
  const detail = `jwt: ${err instanceof Error ? err.message : String(err)}`
  if (err instanceof errors.JWTExpired) {
    return fail('jwt', 'expired', 401, detail, { error: 'invalid_token' })
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return fail('jwt', 'malformed', 401, detail, { error: 'invalid_token' })
  }
  // The key set could not be fetched or read (timeout, non-200, not a JWKS): not the client's fault.
  if (
    err instanceof errors.JWKSTimeout ||
    err instanceof errors.JWKSInvalid ||
    (remote && err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC')
  ) {
    throw new HttpError(503, undefined, { cause: err })
  }
  if (err instanceof errors.JOSEError) {
    // Signature, algorithm not allowed, unknown kid, iss/aud/nbf/typ claims, crit.
    return fail('jwt', 'invalid', 401, detail, { error: 'invalid_token' })
  }
  // A key set that cannot be fetched: the client is not at fault.
  if (remote) throw new HttpError(503, undefined, { cause: err })
  throw err
}

function checkAlgorithms(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    optionError(
      'jwt',
      'algorithms',
      'is required: the list of algorithms tokens may use, e.g. ["RS256"] (never taken from the token)',
      value
    )
  }
  for (const alg of value) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      optionError('jwt', 'algorithms', 'must not hold "none" (unsigned tokens)', value)
    }
    if (typeof alg !== 'string' || !ALL.has(alg)) {
      optionError('jwt', 'algorithms', `must hold only ${[...ALL].join(', ')}`, alg)
    }
  }
  const hmac = value.filter((a) => a in HMAC)
  if (hmac.length > 0 && hmac.length < value.length) {
    optionError(
      'jwt',
      'algorithms',
      'must not mix HMAC (HS*) with public-key algorithms (algorithm confusion)',
      value
    )
  }
  return [...new Set(value as string[])]
}

function checkStrings(name: string, value: unknown): string | string[] {
  if (typeof value === 'string' && value !== '') return value
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'string' && v !== '')
  ) {
    return [...(value as string[])]
  }
  return optionError('jwt', name, 'must be a non-empty string or list of strings', value)
}

function checkClaims(value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    optionError('jwt', 'requiredClaims', 'must be a list of claim names', value)
  }
  return value as string[]
}

function secretKey(secret: unknown, algorithms: readonly string[]): KeyObject {
  let bytes: Buffer
  if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8')
  else if (secret instanceof Uint8Array) bytes = Buffer.from(secret)
  else return optionError('jwt', 'secret', 'must be a string or a Uint8Array', secret)
  if (!algorithms.every((a) => a in HMAC)) {
    optionError(
      'jwt',
      'algorithms',
      'must hold only HS256, HS384 or HS512 with "secret" (a shared secret with a public-key algorithm is algorithm confusion)',
      algorithms
    )
  }
  const needed = Math.max(...algorithms.map((a) => HMAC[a] as number))
  if (bytes.length < needed) {
    // Never echo the secret.
    optionError(
      'jwt',
      'secret',
      `must be at least ${needed} bytes for ${algorithms.join(', ')} (RFC 7518 §3.2), got ${bytes.length}`
    )
  }
  return createSecretKey(bytes)
}

function publicKey(key: unknown, algorithms: readonly string[]): KeyObject {
  let k: KeyObject
  try {
    if (key instanceof KeyObject) k = key
    else if (isCryptoKey(key)) k = KeyObject.from(key)
    else if (typeof key === 'string') k = createPublicKey(key)
    else if (typeof key === 'object' && key !== null && 'kty' in key) {
      const jwk = key as JsonWebKey
      k =
        jwk.kty === 'oct'
          ? createSecretKey(Buffer.from(jwk.k ?? '', 'base64url'))
          : createPublicKey({ key: jwk, format: 'jwk' })
    } else {
      return optionError('jwt', 'key', 'must be a KeyObject, a CryptoKey, a PEM string or a JWK')
    }
  } catch (err) {
    return optionError(
      'jwt',
      'key',
      `could not be read: ${err instanceof Error ? err.message : describe(err)}`
    )
  }
  if (k.type === 'secret') return secretKey(k.export(), algorithms)
  if (k.type === 'private') k = createPublicKey(k)
  let allowed = BY_KEY_TYPE[k.asymmetricKeyType ?? ''] ?? []
  if (k.asymmetricKeyType === 'ec') {
    // RFC 7518 §3.4: each ES algorithm has its curve.
    const curve = k.asymmetricKeyDetails?.namedCurve
    allowed = allowed.filter((a) => EC_CURVES[a] === curve)
  }
  const wrong = algorithms.filter((a) => !allowed.includes(a))
  if (wrong.length > 0) {
    optionError(
      'jwt',
      'algorithms',
      `holds ${wrong.join(', ')}, which a ${k.asymmetricKeyType ?? 'unknown'} key cannot verify`,
      algorithms
    )
  }
  return k
}

function checkJwksUrl(value: unknown): URL {
  let url: URL
  try {
    url = new URL(value instanceof URL ? value.href : String(value))
  } catch {
    return optionError('jwt', 'jwks', 'must be an absolute URL', value)
  }
  if (typeof value !== 'string' && !(value instanceof URL)) {
    optionError('jwt', 'jwks', 'must be a URL or a string', value)
  }
  const loopback = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/.test(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    optionError('jwt', 'jwks', 'must be an https: URL (http: only on loopback)', url.href)
  }
  return url
}

function checkJwksOptions(value: unknown): RemoteJWKSetOptions {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null) {
    return optionError('jwt', 'jwksOptions', 'must be an object', value)
  }
  const out: RemoteJWKSetOptions = {}
  for (const [name, v] of Object.entries(value)) {
    if (name === 'headers') {
      if (typeof v !== 'object' || v === null) {
        optionError('jwt', 'jwksOptions', '.headers must be an object', v)
      }
      out.headers = v as Record<string, string>
    } else if (
      name === 'timeoutDuration' ||
      name === 'cooldownDuration' ||
      name === 'cacheMaxAge'
    ) {
      if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
        optionError('jwt', 'jwksOptions', `.${name} must be a non-negative number of ms`, v)
      }
      out[name] = v
    } else {
      optionError('jwt', 'jwksOptions', `has an unknown field "${name}"`)
    }
  }
  return out
}

function isCryptoKey(value: unknown): value is webcrypto.CryptoKey {
  const C = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey
  return C !== undefined && value instanceof C
}
