import type { IncomingMessage, ServerResponse } from 'node:http'
import { RootScope, type Scope, scopeOf, tag } from './boundary.js'
import { installPrototypeHook } from './hooks.js'
import type { Handler, Middleware } from './types.js'

/** The `next` of Express/Connect: `next()`, `next(err)`, or Express's `next('route')`. */
export type ConnectNext = (err?: unknown) => void

/** A Connect/Express middleware: `(req, res, next) => void`. Error middleware (4 parameters) is not a layer. */
export type ConnectMiddleware<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
> = (req: Req, res: Res, next: ConnectNext) => unknown

/**
 * Uses any Express/Connect middleware as a Shallot layer (`cors`, `response-time`,
 * `compression`, ...). `next()` continues to the inner layers; `next(err)` goes to the
 * stack's error boundary (rendered with the error's `status`/`statusCode` and `expose`, as
 * http-errors set them); a `next` called a second time is ignored, never run twice.
 *
 * If the middleware calls `next` synchronously, the layer returns what the inner layers
 * return, so an outer async layer can await them.
 */
export function fromConnect<Req extends IncomingMessage, Res extends ServerResponse>(
  middleware: ConnectMiddleware<Req, Res>
): Middleware {
  if (typeof middleware !== 'function') {
    throw new TypeError('[@shallot/stack] fromConnect: the middleware must be a function')
  }
  if (middleware.length >= 4) {
    throw new TypeError(
      "[@shallot/stack] fromConnect: an error-handling middleware (err, req, res, next) cannot be a layer; use the stack's onError option"
    )
  }
  const name = middleware.name || 'connect middleware'
  return function connectLayer(next: Handler): Handler {
    const scope: Scope = scopeOf(next) ?? new RootScope(undefined)
    const layer = function fromConnect(req: IncomingMessage, res: ServerResponse) {
      let called = false
      let result: void | Promise<void> | undefined
      middleware(req as Req, res as Res, (err?: unknown) => {
        if (called) return
        called = true
        if (err !== undefined && err !== null && err !== 'route' && err !== 'router') {
          scope.fail(err, req, res)
          return
        }
        try {
          result = next(req, res)
        } catch (e) {
          scope.fail(e, req, res)
        }
      })
      return result
    }
    Object.defineProperty(layer, 'name', { value: name })
    return tag(layer, scope)
  }
}

const kConnectNext: unique symbol = Symbol('shallot.connectNext')

interface ConnectState extends IncomingMessage {
  [kConnectNext]?: ConnectNext | undefined
}

/**
 * Uses any Shallot layer (or a whole stack) as an Express/Connect middleware. When the
 * layer passes the request on, Express's `next()` is called; an error inside it goes to
 * Express's error handling as `next(err)` (an {@link HttpError} keeps its `status` and
 * `expose`, which Express's final handler honours). An error after the layer has passed the
 * request on (Express's `next` is spent) is reported with {@link defaultOnError} and ends the
 * exchange as the stack's boundary would: a rendered error if nothing was sent yet, a cut
 * connection if the head was, nothing if the response is complete.
 *
 * The layer is built once, here, not per request.
 */
export function toConnect(
  mw: Middleware
): (req: IncomingMessage, res: ServerResponse, next: ConnectNext) => void {
  if (typeof mw !== 'function') {
    throw new TypeError('[@shallot/stack] toConnect: the middleware must be a function')
  }
  installPrototypeHook()
  // Once Express's next has been called, an error can no longer go to Express: it is
  // reported and ends the exchange as a root stack would (a 500, or a cut connection).
  const late = new RootScope(undefined)
  const scope: Scope = {
    fail(err, req, res) {
      const next = takeNext(req)
      if (next !== undefined) next(err ?? new Error('[@shallot/stack] undefined was thrown'))
      else late.fail(err, req, res)
    },
  }
  const continueConnect = tag(function continueConnect(req: IncomingMessage) {
    takeNext(req)?.()
  }, scope)
  const handler = mw(continueConnect)
  if (typeof handler !== 'function') {
    throw new TypeError(
      '[@shallot/stack] toConnect: the middleware did not return a handler function'
    )
  }
  return function shallotLayer(req, res, next) {
    ;(req as ConnectState)[kConnectNext] = next
    try {
      const result = handler(req, res)
      if (result !== undefined && typeof result.then === 'function') {
        result.then(undefined, (err: unknown) => scope.fail(err, req, res))
      }
    } catch (err) {
      scope.fail(err, req, res)
    }
  }
}

/** Express's next for this request, at most once. */
function takeNext(req: IncomingMessage): ConnectNext | undefined {
  const state = req as ConnectState
  const next = state[kConnectNext]
  state[kConnectNext] = undefined
  return next
}
