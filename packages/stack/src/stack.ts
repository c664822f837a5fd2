import type { IncomingMessage, ServerResponse } from 'node:http'
import { ChildScope, type ErrorListener, RootScope, type Scope, scopeOf, tag } from './boundary.js'
import { installPrototypeHook } from './hooks.js'
import { canonicalize, encodePath, enterMount, getPath, leaveMount } from './path.js'
import type { Handler, Layer, Middleware } from './types.js'

/** Options of {@link stack}. */
export interface StackOptions {
  /**
   * Sees every error the stack's boundary catches: sync throws, async rejections, `next(err)`
   * from Connect middleware, errors thrown by `onHeaders`/`onFinished` listeners, refused
   * paths (400). Called before the error response is rendered. In a stack nested inside
   * another, it is called first and the outer stack's `onError` after it.
   *
   * @default logs 5xx errors with `console.error`
   */
  onError?: ErrorListener
  /**
   * Traces each layer of this stack per request, e.g. `traceLayers()` from @shallot/timing,
   * which shows every layer as a `Server-Timing` entry. When absent the stack builds plain
   * guards: tracing costs nothing unless it is on.
   *
   * @default undefined (no tracing)
   */
  trace?: LayerTracer
}

/**
 * Receives the timing of each layer of a stack, per request. Times are `performance.now()`
 * values. `layer` is the name of the handler the middleware returned, else the middleware's name, else
 * `layer<index>`; the innermost handler is `'app'` (index = number of layers).
 */
export interface LayerTracer {
  /** The request enters the layer. */
  enter(req: IncomingMessage, res: ServerResponse, layer: string, index: number, time: number): void
  /**
   * The layer's handler returned, or the promise it returned settled: an inclusive span,
   * covering the layers inside it. Often later than the response head.
   */
  exit?(
    req: IncomingMessage,
    res: ServerResponse,
    layer: string,
    index: number,
    start: number,
    end: number
  ): void
}

/**
 * Composes layers in onion order: the first is the outermost, it sees the request first and
 * the response last. The result is itself a Middleware, so stacks nest; falsy entries are
 * skipped, so `isProd && compression()` works. An empty stack returns the handler unchanged.
 *
 * The stack is an error boundary: a sync throw, an async rejection or a non-Error throw from
 * any layer or the handler becomes an error response when the head is not sent yet (the
 * status and safe message of an {@link HttpError}, 500 otherwise; JSON or text by `Accept`;
 * never a stack trace) and a destroyed socket when it is. The outermost stack also
 * canonicalises the request path before any layer runs (see `getPath`).
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/stack#readme
 * @example
 * ```ts
 * const app = stack(logging(), cors({ origin: ['https://app.example'] }))(handler)
 * http.createServer(app).listen(8080)
 * ```
 */
export function stack(...layers: Layer[]): Middleware
export function stack(options: StackOptions, ...layers: Layer[]): Middleware
export function stack(...args: (Layer | StackOptions)[]): Middleware {
  let options: StackOptions = {}
  let list = args
  const first = args[0]
  if (typeof first === 'object' && first !== null) {
    options = first
    list = args.slice(1)
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError(
      `[@shallot/stack] option "onError" must be a function, got ${typeof options.onError}`
    )
  }
  const { trace } = options
  if (
    trace !== undefined &&
    (typeof trace !== 'object' ||
      trace === null ||
      typeof trace.enter !== 'function' ||
      (trace.exit !== undefined && typeof trace.exit !== 'function'))
  ) {
    throw new TypeError(
      '[@shallot/stack] option "trace" must be an object with an enter(req, res, layer, index, time) function and an optional exit function'
    )
  }
  const mws: Middleware[] = []
  list.forEach((layer, i) => {
    if (!layer) return
    if (typeof layer !== 'function') {
      throw new TypeError(
        `[@shallot/stack] layer ${i} must be a middleware function (next) => handler or a falsy value, got ${typeof layer}`
      )
    }
    mws.push(layer)
  })
  const { onError } = options
  return function stack(handler: Handler): Handler {
    if (typeof handler !== 'function') {
      throw new TypeError(`[@shallot/stack] the handler must be a function, got ${typeof handler}`)
    }
    if (mws.length === 0) return handler
    // Before any request, so that wrappers other libraries put on a response capture it.
    installPrototypeHook()
    // Built inside another stack (its `next` carries a scope): that stack canonicalised the
    // path and renders errors; this one only adds its own onError.
    const parent = scopeOf(handler)
    const root = parent === undefined ? new RootScope(onError) : undefined
    const scope: Scope =
      parent === undefined
        ? (root as RootScope)
        : onError === undefined
          ? parent
          : new ChildScope(onError, parent)
    const key = Symbol('shallot.depth')
    // A root stack checks the path after its leading beforePathCheck() layers (an access
    // log), so they see the requests it refuses; nested stacks leave it to their root.
    let early = 0
    if (root !== undefined) while (early < mws.length && isBeforePathCheck(mws[early])) early++
    const entry = compose(mws, handler, scope, key, trace, parent !== undefined, early)
    if (root === undefined) {
      return tag(function stack(req: IncomingMessage, res: ServerResponse) {
        ;(req as unknown as DepthState)[key] = -1
        return entry(req, res)
      }, scope)
    }
    if (early > 0) {
      return function shallot(req: IncomingMessage, res: ServerResponse) {
        root.watch(res)
        ;(req as unknown as DepthState)[key] = -1
        return entry(req, res)
      }
    }
    return function shallot(req: IncomingMessage, res: ServerResponse) {
      root.watch(res)
      try {
        getPath(req)
      } catch (err) {
        root.fail(err, req, res)
        return
      }
      ;(req as unknown as DepthState)[key] = -1
      return entry(req, res)
    }
  }
}

/**
 * Builds the guarded chain. Guard j wraps handler j (layer j built over guard j+1; the last
 * is the app). A guard records the index it entered on the request under `key`: entering an
 * index already reached means a layer called `next` twice, found with one number compare and
 * no allocation. Errors are caught where they occur, so `next` never rejects and a layer that
 * calls it without awaiting cannot leak an unhandled rejection.
 */
function compose(
  mws: readonly Middleware[],
  app: Handler,
  scope: Scope,
  key: symbol,
  trace: LayerTracer | undefined,
  nested: boolean,
  early = 0
): Handler {
  // names[j]: how to call layer j in an error message; filled once the handlers exist.
  const names: string[] = []
  const wrap = (handler: Handler, index: number, name: string): Handler =>
    trace === undefined
      ? guard(handler, index, scope, key, names)
      : guard(traced(handler, index, name, trace), index, scope, key, names)
  // In a nested stack the innermost handler is the enclosing stack's continuation, which
  // that stack traces itself: only a root stack reports its app.
  let next = nested ? guard(app, mws.length, scope, key, names) : wrap(app, mws.length, 'app')
  for (let j = mws.length - 1; j >= 0; j--) {
    const mw = mws[j] as Middleware
    // The last beforePathCheck layer hands on to the path check, then to the rest.
    if (j === early - 1) next = pathChecked(next, scope)
    const handler = mw(next)
    if (typeof handler !== 'function') {
      throw new TypeError(
        `[@shallot/stack] layer ${j}${mw.name ? ` "${mw.name}"` : ''} returned ${typeof handler} instead of a handler function`
      )
    }
    const name = (handler === next ? '' : handler.name) || mw.name
    names[j] = name ? `"${name}" (index ${j})` : `index ${j}`
    next = wrap(handler, j, name || `layer${j}`)
  }
  return next
}

/** Wraps a handler to report its layer's entry and inclusive span to the tracer. */
function traced(handler: Handler, index: number, name: string, trace: LayerTracer): Handler {
  const { exit } = trace
  return function traced(req, res) {
    const start = performance.now()
    trace.enter(req, res, name, index, start)
    if (exit === undefined) return handler(req, res)
    let result: void | Promise<void>
    try {
      result = handler(req, res)
    } catch (err) {
      exit.call(trace, req, res, name, index, start, performance.now())
      throw err
    }
    if (result !== undefined && typeof result.then === 'function') {
      const done = (): void => exit.call(trace, req, res, name, index, start, performance.now())
      return result.then(done, (err: unknown) => {
        done()
        throw err
      })
    }
    exit.call(trace, req, res, name, index, start, performance.now())
    return result
  }
}

type DepthState = Record<symbol, number | undefined>

const kBeforePathCheck: unique symbol = Symbol.for('shallot.beforePathCheck')

/**
 * Marks a layer to run before the stack checks the request's path: placed first in a root
 * stack (with other marked layers before it, if any), it sees every request, those the
 * stack refuses with a 400 for a path it cannot canonicalise included, and the 400 itself
 * (`getError(req)` says why). Made for access logs: @shallot/logging marks its layer. A
 * marked layer must not call `getPath` (it throws for those requests); `getOriginalUrl`
 * works. Marked layers anywhere else run where they stand, after the check.
 */
export function beforePathCheck<M extends Middleware>(mw: M): M {
  if (typeof mw !== 'function') {
    throw new TypeError('[@shallot/stack] beforePathCheck: the middleware must be a function')
  }
  ;(mw as M & { [kBeforePathCheck]?: true })[kBeforePathCheck] = true
  return mw
}

function isBeforePathCheck(mw: Middleware | undefined): boolean {
  return (mw as { [kBeforePathCheck]?: true } | undefined)?.[kBeforePathCheck] === true
}

/** Canonicalises the path (a 400 through the boundary when it cannot), then goes on. */
function pathChecked(next: Handler, scope: Scope): Handler {
  return tag(function pathChecked(req: IncomingMessage, res: ServerResponse) {
    try {
      getPath(req)
    } catch (err) {
      scope.fail(err, req, res)
      return
    }
    return next(req, res)
  }, scope)
}

function guard(
  handler: Handler,
  index: number,
  scope: Scope,
  key: symbol,
  names: readonly string[]
): Handler {
  return tag(function next(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    const state = req as unknown as DepthState
    if ((state[key] as number) >= index) {
      scope.fail(
        new Error(
          `[@shallot/stack] next() was called more than once by layer ${names[index - 1] ?? 'before the stack'}`
        ),
        req,
        res
      )
      return
    }
    state[key] = index
    try {
      const result = handler(req, res)
      if (result !== undefined && typeof result.then === 'function') {
        return result.then(undefined, (err: unknown) => scope.fail(err, req, res))
      }
      return result
    } catch (err) {
      scope.fail(err, req, res)
    }
  }, scope)
}

/**
 * Runs `mw` only for requests `predicate` accepts; others go straight to the next layer.
 * The predicate may be async.
 */
export function when(
  predicate: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>,
  mw: Middleware
): Middleware {
  if (typeof predicate !== 'function') {
    throw new TypeError('[@shallot/stack] when: the predicate must be a function')
  }
  if (typeof mw !== 'function') {
    throw new TypeError('[@shallot/stack] when: the middleware must be a function')
  }
  return function whenMiddleware(next: Handler): Handler {
    const inner = mw(next)
    return inheritTag(function when(req, res) {
      const ok = predicate(req, res)
      if (typeof ok === 'boolean') return ok ? inner(req, res) : next(req, res)
      return Promise.resolve(ok).then((yes) => (yes ? inner(req, res) : next(req, res)))
    }, next)
  }
}

/** Options of {@link mount}. */
export interface MountOptions {
  /**
   * Whether the prefix is matched case-sensitively. Keep the default unless the router
   * behind the stack matches paths case-insensitively (Express does by default): a guard
   * mounted on `/api` must match every path that router sends to `/api`.
   *
   * @default true
   */
  caseSensitive?: boolean
}

/**
 * Runs `target` for requests whose canonical path is `prefix` or below it (segment-aware:
 * `/api` matches `/api` and `/api/x`, not `/apix`). Inside, the URL and `getPath(req)` have
 * the prefix removed and `getBasePath(req)` has it added (WSGI's SCRIPT_NAME/PATH_INFO);
 * when the inner layers call `next`, and when they return or fail, the outer layers see the
 * URL restored.
 *
 * `target` is a Middleware (`(next) => handler`, one parameter), or a Handler
 * (`(req, res)`, two or more parameters, e.g. an Express app), which ends the chain.
 */
export function mount(prefix: string, target: Middleware, options?: MountOptions): Middleware
export function mount(prefix: string, target: Handler, options?: MountOptions): Middleware
export function mount(
  prefix: string,
  target: Middleware | Handler,
  options: MountOptions = {}
): Middleware {
  const canonicalPrefix = checkPrefix(prefix)
  const caseSensitive = options.caseSensitive ?? true
  if (typeof caseSensitive !== 'boolean') {
    throw new TypeError('[@shallot/stack] mount: option "caseSensitive" must be a boolean')
  }
  if (typeof target !== 'function') {
    throw new TypeError(
      '[@shallot/stack] mount: the target must be a middleware or a handler function'
    )
  }
  const { decoded, encoded } = canonicalPrefix
  const isHandler = target.length >= 2
  const savedUrl = Symbol('shallot.mount.url')
  const savedPath = Symbol('shallot.mount.path')
  type Saved = Record<symbol, string>

  return function mountMiddleware(next: Handler): Handler {
    const restore = (req: IncomingMessage): void => {
      const s = req as unknown as Saved
      const url = s[savedUrl]
      if (url === undefined) return
      leaveMount(req, decoded, url, s[savedPath] as string)
      s[savedUrl] = undefined as unknown as string
    }
    const continueOutside = inheritTag(function mountNext(
      req: IncomingMessage,
      res: ServerResponse
    ) {
      restore(req)
      return next(req, res)
    }, next)
    const inner = isHandler
      ? (target as Handler)
      : buildTarget(target as Middleware, continueOutside)
    if (decoded === '') return inner
    return inheritTag(function mount(req: IncomingMessage, res: ServerResponse) {
      const path = getPath(req)
      let encodedPrefix = encoded
      if (caseSensitive) {
        if (!matches(path, decoded)) return next(req, res)
      } else {
        if (!matches(path, decoded, true)) return next(req, res)
        encodedPrefix = encodePath(path.slice(0, decoded.length))
      }
      const s = req as unknown as Saved
      s[savedUrl] = req.url as string
      s[savedPath] = path
      enterMount(req, path.slice(0, decoded.length), encodedPrefix, path)
      let result: void | Promise<void>
      try {
        result = inner(req, res)
      } catch (err) {
        restore(req)
        throw err
      }
      if (result !== undefined && typeof result.then === 'function') {
        return result.then(
          () => restore(req),
          (err: unknown) => {
            restore(req)
            throw err
          }
        )
      }
      restore(req)
      return result
    }, next)
  }
}

function buildTarget(mw: Middleware, next: Handler): Handler {
  let handler: unknown
  try {
    handler = mw(next)
  } catch (err) {
    if (mw.length !== 0) throw err
    handler = err
  }
  if (typeof handler !== 'function') {
    throw new TypeError(
      '[@shallot/stack] mount: the target was called as a middleware (next) => handler and did not return a handler. A handler must declare its (req, res) parameters so that mount can tell it from a middleware.',
      { cause: handler }
    )
  }
  return handler as Handler
}

function matches(path: string, prefix: string, ignoreCase = false): boolean {
  if (path.length !== prefix.length && path.charCodeAt(prefix.length) !== 0x2f) return false
  if (!ignoreCase) return path.startsWith(prefix)
  return (
    path.length >= prefix.length &&
    path.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()
  )
}

function checkPrefix(
  prefix: string,
  label = '[@shallot/stack] mount: the prefix'
): {
  decoded: string
  encoded: string
} {
  if (typeof prefix !== 'string' || prefix.charCodeAt(0) !== 0x2f) {
    throw new TypeError(
      `${label} must be a string starting with "/", got ${JSON.stringify(prefix)}`
    )
  }
  const result = canonicalize(prefix)
  const trimmed = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  if (
    typeof result === 'string' ||
    result.decoded.includes('%') ||
    (result.decoded !== prefix && result.decoded !== trimmed && `${result.decoded}/` !== prefix)
  ) {
    const why =
      typeof result === 'string'
        ? result
        : result.decoded.includes('%')
          ? 'write it decoded'
          : `did you mean ${JSON.stringify(result.decoded)}?`
    throw new TypeError(`${label} ${JSON.stringify(prefix)} is not a canonical path (${why})`)
  }
  // '/api/' and '/api' mount the same; '/' mounts everything.
  const decoded = result.decoded.endsWith('/') ? result.decoded.slice(0, -1) : result.decoded
  const encoded = result.encoded.endsWith('/') ? result.encoded.slice(0, -1) : result.encoded
  return { decoded, encoded }
}

/** Options of {@link pathMatcher}. */
export interface PathMatcherOptions {
  /**
   * Whether prefixes match case-sensitively (see `mount`'s option of the same name).
   *
   * @default true
   */
  caseSensitive?: boolean
  /**
   * How error messages name the checked value, e.g. `'[@shallot/auth] option "paths"'`.
   *
   * @default '[@shallot/stack] pathMatcher: the prefix'
   */
  label?: string
}

/**
 * Compiles path prefixes, checked at start-up exactly as `mount` checks its prefix, into a
 * predicate on the request's canonical path (`getPath(req)`), segment-aware like `mount`:
 * `/api` matches `/api`, `/api/` and `/api/x`, never `/apix`; `/` matches everything. For
 * layers with a `paths` option, so that they and `mount` decide on one code path.
 */
export function pathMatcher(
  prefixes: string | readonly string[],
  options: PathMatcherOptions = {}
): (req: IncomingMessage) => boolean {
  const label = options.label ?? '[@shallot/stack] pathMatcher: the prefix'
  const caseSensitive = options.caseSensitive ?? true
  if (typeof caseSensitive !== 'boolean') {
    throw new TypeError(`${label}: option "caseSensitive" must be a boolean`)
  }
  const list = typeof prefixes === 'string' ? [prefixes] : prefixes
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`${label} must be a path or a non-empty list of paths`)
  }
  const decoded = list.map((p: string) => checkPrefix(p, label).decoded)
  if (decoded.includes('')) return () => true
  return (req) => {
    const path = getPath(req)
    for (let i = 0; i < decoded.length; i++) {
      if (matches(path, decoded[i] as string, !caseSensitive)) return true
    }
    return false
  }
}

/** Gives `fn` the scope tag of `next`, so stacks built further in know they are nested. */
function inheritTag<T extends Handler>(fn: T, next: Handler): T {
  const scope = scopeOf(next)
  if (scope !== undefined) tag(fn, scope)
  return fn
}
