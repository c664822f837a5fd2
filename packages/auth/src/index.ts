/**
 * @shallot/auth: API key, Basic (RFC 7617), Bearer (RFC 6750) and JWT (RFC 7519/8725)
 * authentication for Node request listeners composed with @shallot/stack.
 *
 * @module
 */
export { anyOf, type PrincipalOf } from './any-of.js'
export {
  type ApiKeyBaseOptions,
  type ApiKeyListOptions,
  type ApiKeyMapOptions,
  type ApiKeyOptions,
  type ApiKeyVerifyOptions,
  apiKey,
} from './api-key.js'
export {
  type BasicBaseOptions,
  type BasicOptions,
  type BasicUsersOptions,
  type BasicVerifyOptions,
  basic,
} from './basic.js'
export {
  type BearerBaseOptions,
  type BearerListOptions,
  type BearerMapOptions,
  type BearerOptions,
  type BearerVerifyOptions,
  bearer,
} from './bearer.js'
export { safeEqual } from './compare.js'
export {
  AuthError,
  type AuthMiddleware,
  type AuthOptions,
  type FailureInfo,
  type FailureReason,
  getAuthScheme,
  getPrincipal,
  type OnFailure,
  type SchemeName,
  type Verdict,
} from './core.js'
export {
  type JwtAlgorithm,
  type JwtBaseOptions,
  type JwtJwksOptions,
  type JwtKey,
  type JwtKeyOptions,
  type JwtOptions,
  type JwtSecretOptions,
  jwt,
} from './jwt.js'
