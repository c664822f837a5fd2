/**
 * @shallot/session: cookie sessions for Node request listeners, with signed ids, per-key
 * writes that complete before the response is sent, server-enforced idle and absolute
 * timeouts, and pluggable stores (bounded memory, Redis, sealed cookie, express-session's).
 *
 * @module
 */
export { CookieStore, type CookieStoreOptions } from './cookie-store.js'
export {
  type ExpressSessionData,
  type ExpressStoreLike,
  fromExpressStore,
} from './express-store.js'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js'
export { session } from './middleware.js'
export type {
  SessionCookieOptions,
  SessionOptions,
  StoreErrorHandler,
  StoreErrorPolicy,
} from './options.js'
export {
  type IoRedisClientLike,
  type NodeRedisClientLike,
  type RedisSerializer,
  RedisStore,
  type RedisStoreOptions,
} from './redis-store.js'
export { getSession, type Session } from './session.js'
export type { SessionPatch, SessionRecord, SessionStore } from './store.js'
