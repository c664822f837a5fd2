/**
 * @shallot/serve: runs a Node request handler in production, the way Gunicorn runs a WSGI
 * application: worker processes through `node:cluster`, restarted when they die (with
 * back-off), replaced after `maxRequests`, sane server timeouts, and a graceful shutdown on
 * SIGTERM/SIGINT.
 *
 * @module
 */
import cluster from 'node:cluster'
import type { RequestListener, Server } from 'node:http'
import type { ServeAddress } from './address.js'
import { errorText, ServeError } from './errors.js'
import { loadHandler, moduleUrl } from './load.js'
import { describe, resolveOptions, type ServeOptions } from './options.js'
import { Supervisor } from './primary.js'
import { onSignals, signalExitCode } from './signals.js'
import { SingleServer } from './single.js'
import { claimWorkerConfig, WorkerRuntime } from './worker.js'

export type { ServeAddress } from './address.js'
export { ServeError, type ServeErrorCode } from './errors.js'
export type { PrimaryHook, ServeOptions } from './options.js'

/** What {@link serve} returns. */
export interface Serving {
  /**
   * `'single'` (workers: 0), `'primary'` (this process supervises the workers), or
   * `'worker'` (this process is a worker that runs the handler: the script was re-run by the
   * primary).
   */
  readonly mode: 'single' | 'primary' | 'worker'
  /**
   * Resolves with the address once serving: listening (single, worker), or every worker
   * listening (primary). Rejects with a {@link ServeError} if it cannot start (the module
   * cannot be loaded, the port cannot be bound, workers crash at start more than
   * `maxRestarts` times), or with an `Error` when closed before it was ready.
   */
  readonly ready: Promise<ServeAddress>
  /** The address once `ready` resolved, else `undefined`. */
  readonly address: ServeAddress | undefined
  /** The node:http server, in single and worker modes; `undefined` in the primary. */
  readonly server: Server | undefined
  /** The pids of the workers (primary); empty otherwise. */
  readonly workers: readonly number[]
  /**
   * Graceful shutdown: stop accepting, let requests in flight finish (up to
   * `shutdownTimeout`), close keep-alive connections; in the primary, of every worker.
   * Resolves with the exit code, as `closed` does. Does not exit the process. In a worker,
   * stops that worker only (the primary starts another).
   */
  close(): Promise<number>
  /**
   * Resolves once the server has stopped, for whatever reason, with the exit code the CLI
   * uses: 0 after a graceful shutdown, 1 when workers kept crashing at start, 3 when the
   * module could not be loaded, 4 when the server could not listen, 128 + the signal's number
   * after a forced shutdown. Never rejects.
   */
  readonly closed: Promise<number>
}

function graceful(log: (line: string) => void, timeout: number, signal: NodeJS.Signals): void {
  log(
    `${signal}: shutting down gracefully (requests in flight get up to ${timeout} ms; ${signal} again to force)`
  )
}

/**
 * Serves `app`: a request handler (anything `http.createServer()` takes, a `stack(...)(handler)`
 * included), or the path or `file:` URL of a module that exports one (its default export, or
 * else a named export `handler` or `app`).
 *
 * With `workers: 0` (the default) it serves in this process. With `workers` >= 1 this process
 * becomes the primary and forks the workers: for a module, each worker imports it; for a
 * function, each worker re-runs this program (`process.argv[1]`), whose `serve()` call then
 * serves the function instead of forking, so everything before that call runs in every
 * process. Options are checked at once: a bad one throws a `TypeError` naming it.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/serve#readme
 * @example
 * ```ts
 * // Four workers, each importing ./app.js:
 * serve(new URL('./app.js', import.meta.url), { port: 8000, workers: 4 })
 * // In this process:
 * const { ready } = serve(stack(timing())(handler), { port: 8000 })
 * console.log((await ready).url)
 * ```
 */
export function serve(app: RequestListener | string | URL, options?: ServeOptions): Serving {
  if (typeof app !== 'function' && typeof app !== 'string' && !(app instanceof URL)) {
    throw new TypeError(
      `[@shallot/serve] serve(app): app must be a request handler (req, res), a module path or a file: URL, got ${describe(app)}`
    )
  }
  const o = resolveOptions(options)
  const target: RequestListener | string = typeof app === 'function' ? app : moduleUrl(app)

  const workerConfig = claimWorkerConfig('serve')
  if (workerConfig !== undefined) {
    const runtime = new WorkerRuntime(workerConfig, (line) =>
      o.log(`worker ${workerConfig.slot} (pid ${process.pid}): ${line}`)
    )
    if (typeof target === 'function') runtime.start(target)
    else {
      loadHandler(target).then(
        (handler) => runtime.start(handler),
        (err: unknown) =>
          runtime.failLoad(
            err instanceof ServeError ? err : new ServeError('ERR_SERVE_LOAD', errorText(err))
          )
      )
    }
    return {
      mode: 'worker',
      ready: runtime.ready,
      get address() {
        return runtime.address
      },
      get server() {
        return runtime.server
      },
      workers: [],
      close: () => runtime.stop(),
      closed: runtime.closed,
    }
  }

  if (o.workers === 0) {
    const single = new SingleServer(target, o)
    let off = () => {}
    if (o.signals) {
      off = onSignals({
        graceful(signal) {
          graceful(o.log, o.shutdownTimeout, signal)
          single.close().then((code) => process.exit(code))
        },
        force(signal) {
          const code = signalExitCode(signal)
          o.log(`${signal} again: exiting now (exit code ${code})`)
          return code
        },
      })
    }
    single.closed.then(() => off())
    return {
      mode: 'single',
      ready: single.ready,
      get address() {
        return single.address
      },
      get server() {
        return single.server
      },
      workers: [],
      close: () => single.close(),
      closed: single.closed,
    }
  }

  if (cluster.isWorker) {
    throw new TypeError(
      `[@shallot/serve] option "workers" must be 0 in a cluster worker that serve() did not start, got ${o.workers}`
    )
  }
  let program: ConstructorParameters<typeof Supervisor>[0]
  if (typeof target === 'function') {
    const script = process.argv[1]
    if (script === undefined || script === '') {
      throw new TypeError(
        '[@shallot/serve] option "workers": serving a function with workers re-runs the program in each worker, and this process has no program file (process.argv[1]); pass the module instead: serve(new URL("./app.js", import.meta.url), { workers })'
      )
    }
    program = { kind: 'script', path: script, args: process.argv.slice(2) }
  } else {
    program = { kind: 'module', url: target }
  }
  const supervisor = new Supervisor(program, o)
  let off = () => {}
  if (o.signals) {
    off = onSignals({
      graceful(signal) {
        graceful(o.log, o.shutdownTimeout, signal)
        supervisor.stop().then((code) => process.exit(code))
      },
      force: (signal) => supervisor.force(signal),
      reload() {
        o.log('SIGHUP: replacing every worker')
        supervisor.reload()
      },
    })
  }
  supervisor.closed.then(() => off())
  return {
    mode: 'primary',
    ready: supervisor.ready,
    get address() {
      return supervisor.address
    },
    server: undefined,
    get workers() {
      return supervisor.workers
    },
    close: () => supervisor.stop(),
    closed: supervisor.closed,
  }
}
