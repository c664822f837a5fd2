import type { IncomingMessage, ServerResponse } from 'node:http'
import { RootScope, type Scope, tag, toError } from './boundary.js'
import { installPrototypeHook, onFinished } from './hooks.js'
import type { Handler, Middleware } from './types.js'

/**
 * The part of Koa's context that {@link toKoa} uses. Koa's own `ctx` has it, so the adapter
 * needs no import of Koa and this package does not depend on it.
 */
export interface KoaContextLike {
  /** Node's request (`ctx.req`): what every Shallot layer and accessor sees. */
  req: IncomingMessage
  /** Node's response (`ctx.res`). */
  res: ServerResponse
  /** Koa's switch to leave the response alone: set to `false` when a Shallot layer answered. */
  respond?: boolean
}

/** Koa's `next`: runs the downstream middleware; settles when they are done. */
export type KoaNext = () => Promise<unknown>

/** A Koa middleware, as Koa's `app.use()` takes it. */
export type KoaMiddleware = (ctx: KoaContextLike, next: KoaNext) => Promise<void>

/** One pass of a request through one toKoa layer. */
interface KoaCall {
  readonly next: KoaNext
  /** Koa's status when the request reached the layer (404: nothing has answered yet). */
  readonly status: number
  /** The layer passed the request on: Koa's downstream ran, or runs. */
  passed: boolean
  /** Settles when Koa's downstream has; never rejects (its error goes to `failure`). */
  downstream: Promise<void> | undefined
  /** Wakes the adapter while it waits for the layer to pass on or to answer. */
  wake: (() => void) | undefined
  /** The first error: the layer's own, or the one Koa's downstream rejected with. */
  failure: { error: unknown; own: boolean } | undefined
  /** The adapter's promise has settled: Koa has moved on. */
  done: boolean
}

type CallState = Record<symbol, KoaCall | undefined>

const noop = (): void => {}

/**
 * Uses any Shallot layer (or a whole stack) as a Koa middleware: `app.use(toKoa(stack(...)))`.
 * The layer sees Koa's own `ctx.req` and `ctx.res`, so the per-request accessors
 * (`getSession(ctx.req)`, `getPrincipal(ctx.req)`) work in the Koa middleware after it.
 *
 * - **Passing on** runs Koa's `next()`; the `next(req, res)` the layer awaits resolves when
 *   Koa's downstream is done. Koa writes the response after the whole chain has resolved,
 *   so headers set in `onHeaders` (CORS, timing, the session cookie) land on what Koa writes.
 * - **Answering** (a preflight, a file, an endpoint): the layer did not pass the request on,
 *   so `ctx.respond` is set to `false` and Koa leaves the response alone. Until the layer
 *   passes on or the response is finished, the adapter waits: a Connect middleware inside
 *   (`fromConnect`) may call `next` later.
 * - **Errors**: a throw or rejection of the layer (an `HttpError` 401, a 500) is rethrown to
 *   Koa, which renders it with the error's `status`, `expose` and `headers`; an error of
 *   Koa's downstream goes back to Koa as it was thrown, once, and the layer's `next` still
 *   resolves (as in a stack, `next` never rejects). An error of the layer after its head
 *   was sent also destroys the connection (Koa only reports those). An error raised after
 *   Koa has moved on is reported with {@link defaultOnError} and ends the exchange as the
 *   stack's boundary would.
 * - Koa starts every response at 404; the layer sees Node's 200 instead, and Koa's status is
 *   put back when the layer passes on without having chosen one, or fails before passing on.
 *
 * The layer is built once, here, not per request.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/stack#tokoamw
 * @example
 * ```ts
 * const app = new Koa()
 * app.use(toKoa(stack(cors({ origin: ['https://app.example'] }), session({ secret }))))
 * app.use((ctx) => {
 *   ctx.body = { visits: getSession(ctx.req).get('visits') }
 * })
 * ```
 */
export function toKoa(mw: Middleware): KoaMiddleware {
  if (typeof mw !== 'function') {
    throw new TypeError('[@shallot/stack] toKoa: the middleware must be a function')
  }
  installPrototypeHook()
  // Per adapter: two toKoa layers on one request, one inside the other's next, keep apart.
  const key = Symbol('shallot.koa')
  // Once Koa has moved on, an error can no longer go to Koa: it is reported and ends the
  // exchange as a root stack would (a 500, or a cut connection).
  const late = new RootScope(undefined)
  const scope: Scope = {
    fail(err, req, res) {
      const call = (req as unknown as CallState)[key]
      if (call === undefined || call.done) {
        late.fail(err, req, res)
        return
      }
      call.failure ??= { error: toError(err), own: true }
      call.wake?.()
    },
  }

  const continueKoa = tag(function continueKoa(
    req: IncomingMessage,
    res: ServerResponse
  ): Promise<void> | undefined {
    const call = (req as unknown as CallState)[key]
    if (call === undefined || call.done) {
      late.fail(
        new Error(
          '[@shallot/stack] toKoa: the layer passed the request on after Koa had moved on: return or await the promise of next(req, res), or pass on before the handler settles'
        ),
        req,
        res
      )
      return undefined
    }
    if (call.passed) {
      scope.fail(new Error('[@shallot/stack] toKoa: next() was called more than once'), req, res)
      return undefined
    }
    call.passed = true
    // Koa's "nothing answered yet" 404 comes back unless the layer chose a status.
    if (!res.headersSent && res.statusCode === 200) res.statusCode = call.status
    let pending: Promise<unknown>
    try {
      pending = Promise.resolve(call.next())
    } catch (err) {
      pending = Promise.reject(err)
    }
    const downstream = pending.then(noop, (err: unknown) => {
      call.failure ??= { error: err, own: false }
    })
    call.downstream = downstream
    call.wake?.()
    return downstream
  }, scope)

  const handler: Handler = mw(continueKoa)
  if (typeof handler !== 'function') {
    throw new TypeError('[@shallot/stack] toKoa: the middleware did not return a handler function')
  }

  async function run(call: KoaCall, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let result: void | Promise<void>
    try {
      result = handler(req, res)
    } catch (err) {
      result = undefined
      scope.fail(err, req, res)
    }
    if (result !== undefined && typeof result.then === 'function') {
      await result.then(noop, (err: unknown) => scope.fail(err, req, res))
    }
    if (!call.passed && call.failure === undefined && !res.writableEnded && !res.destroyed) {
      // Neither passed on nor finished: the layer may still do either (a Connect middleware
      // calling next after a callback, a file still being read). Wait for the first of them.
      await new Promise<void>((resolve) => {
        call.wake = resolve
        onFinished(res, () => resolve())
      })
      call.wake = undefined
    }
    if (call.downstream !== undefined) await call.downstream
  }

  return async function shallotKoa(ctx: KoaContextLike, next: KoaNext): Promise<void> {
    const { req, res } = ctx
    const state = req as unknown as CallState
    const outer = state[key]
    const call: KoaCall = {
      next,
      status: res.statusCode,
      passed: false,
      downstream: undefined,
      wake: undefined,
      failure: undefined,
      done: false,
    }
    state[key] = call
    // A Shallot layer expects Node's default status, as in http.createServer.
    if (!res.headersSent) res.statusCode = 200
    try {
      await run(call, req, res)
    } finally {
      call.done = true
      state[key] = outer
    }
    const failure = call.failure
    if (failure !== undefined) {
      if (!res.headersSent) {
        // Koa's error handling sets the status; a Koa middleware that swallows the error
        // must find Koa's own, not the 200 the layer was given.
        if (!call.passed && res.statusCode === 200) res.statusCode = call.status
      } else if (failure.own && !res.writableEnded) {
        // Koa only reports an error once the head is out; the stack would cut the connection.
        res.destroy()
      }
      throw failure.error
    }
    if (!call.passed) ctx.respond = false
  }
}
