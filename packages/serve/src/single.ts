import type { RequestListener, Server } from 'node:http'
import { type ServeAddress, toServeAddress } from './address.js'
import { EXIT_CODES, listenErrorText, ServeError } from './errors.js'
import { ManagedServer } from './http-server.js'
import { loadHandler } from './load.js'
import type { ResolvedOptions } from './options.js'

/**
 * @internal `workers: 0`: the handler (or the module's) served in this process, with the
 * timeouts, the handler guard and the graceful shutdown; no supervisor.
 */
export class SingleServer {
  readonly ready: Promise<ServeAddress>
  readonly closed: Promise<number>
  address: ServeAddress | undefined
  readonly #o: ResolvedOptions
  #managed: ManagedServer | undefined
  #closing = false
  #resolveClosed!: (code: number) => void

  constructor(app: RequestListener | string, options: ResolvedOptions) {
    this.#o = options
    this.closed = new Promise<number>((resolve) => {
      this.#resolveClosed = resolve
    })
    this.ready = this.#start(app)
    this.ready.then(undefined, (err: unknown) => {
      const code = err instanceof ServeError ? err.exitCode : 1
      options.log(`${(err as Error).message}`)
      options.log(`stopped (exit code ${code})`)
      this.#resolveClosed(code)
    })
  }

  async #start(app: RequestListener | string): Promise<ServeAddress> {
    const o = this.#o
    const handler = typeof app === 'function' ? app : await loadHandler(app)
    const managed = new ManagedServer(handler, o, o.log)
    this.#managed = managed
    let info: Awaited<ReturnType<ManagedServer['listen']>>
    try {
      info = await managed.listen(o.port, o.host)
    } catch (err) {
      throw new ServeError('ERR_SERVE_LISTEN', listenErrorText(err, o.host, o.port), {
        cause: err,
      })
    }
    const address = toServeAddress(info)
    this.address = address
    o.log(`listening on ${address.url} (single process, pid ${process.pid})`)
    return address
  }

  get server(): Server | undefined {
    return this.#managed?.server
  }

  /** Graceful shutdown; resolves with the exit code (that of the start-up failure, if any). */
  close(): Promise<number> {
    if (this.#closing) return this.closed
    this.#closing = true
    this.ready.then(
      async () => {
        const o = this.#o
        const { drained, cut } = await (this.#managed as ManagedServer).shutdown(o.shutdownTimeout)
        if (!drained) {
          o.log(
            `shutdownTimeout (${o.shutdownTimeout} ms) reached, ${cut} request(s) in flight were cut`
          )
        }
        o.log(`stopped (exit code ${EXIT_CODES.ok})`)
        this.#resolveClosed(EXIT_CODES.ok)
      },
      () => {}
    )
    return this.closed
  }
}
