/**
 * @shallot/stack: the callable, the onion, the error boundary and the mechanisms every
 * Shallot package shares.
 *
 * @module
 */

export { qualityValues } from './accept.js'
export {
  claimErrorReport,
  defaultOnError,
  type ErrorListener,
  getError,
  isErrorReportClaimed,
} from './boundary.js'
export { countBodyBytes, getBodyBytes } from './bytes.js'
export { type ConnectMiddleware, type ConnectNext, fromConnect, toConnect } from './connect.js'
export { formatDecimal } from './decimal.js'
export { type FinishedListener, type HeadersListener, onFinished, onHeaders } from './hooks.js'
export { HttpError, type HttpErrorOptions, isHttpError } from './http-error.js'
export { type KoaContextLike, type KoaMiddleware, type KoaNext, toKoa } from './koa.js'
export { getBasePath, getOriginalUrl, getPath } from './path.js'
export {
  type ClientInfo,
  type ForwardedHeader,
  getClient,
  type TrustProxyOptions,
  trustProxy,
} from './proxy.js'
export {
  beforePathCheck,
  type LayerTracer,
  type MountOptions,
  mount,
  type PathMatcherOptions,
  pathMatcher,
  type StackOptions,
  stack,
  when,
} from './stack.js'
export type { Handler, Layer, Middleware } from './types.js'
export { appendVary } from './vary.js'
