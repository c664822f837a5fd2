import cluster from 'node:cluster'
import type { RequestListener, Server } from 'node:http'
import { type ServeAddress, toServeAddress } from './address.js'
import { EXIT_CODES, listenErrorText, ServeError } from './errors.js'
import { ManagedServer } from './http-server.js'
import { signalExitCode } from './signals.js'

/** @internal The environment variable that carries a worker's configuration. */
export const WORKER_ENV = 'SHALLOT_SERVE_WORKER'

/** @internal What the primary tells a worker, as JSON in {@link WORKER_ENV}. */
export interface WorkerConfig {
  /** The worker's number, 1 to `workers`; a replacement takes the number of the one it replaces. */
  slot: number
  /** The port to listen with: the option, or the primary's actual port after a restart on port 0. */
  port: number
  host?: string
  keepAliveTimeout: number
  headersTimeout: number
  requestTimeout: number
  shutdownTimeout: number
  /** This worker's limit, jitter included; 0: none. */
  maxRequests: number
  /** The application module (file: URL), when the worker runs worker-main.js. */
  module?: string
}

/** @internal Messages from a worker to the primary. */
export type WorkerMessage =
  | { shallotServe: 'listening'; address: string; port: number }
  | { shallotServe: 'recycle'; requests: number }
  | { shallotServe: 'boot-error'; stage: 'load' | 'listen'; message: string }
  | { shallotServe: 'stopped'; drained: boolean; cut: number; requests: number }

/**
 * @internal Messages from the primary to a worker: `shutdown` starts a graceful shutdown;
 * `exit` answers the worker's `stopped`, once the primary no longer routes connections to it.
 */
export interface PrimaryMessage {
  shallotServe: 'shutdown' | 'exit'
}

let configRead = false
let config: WorkerConfig | undefined
let claimedBy: 'serve' | 'entry' | undefined

/**
 * @internal The configuration of this process if it is a worker that serve() forked, once: the
 * first caller (serve() in the re-run script, or worker-main.js) owns the worker. A second
 * claim throws: it would start a second server on the same port.
 */
export function claimWorkerConfig(by: 'serve' | 'entry'): WorkerConfig | undefined {
  if (!configRead) {
    configRead = true
    const raw = process.env[WORKER_ENV]
    if (cluster.isWorker && raw !== undefined) {
      config = JSON.parse(raw) as WorkerConfig
      // Not inherited by the application's own child processes.
      delete process.env[WORKER_ENV]
    }
  }
  if (config === undefined) return undefined
  if (claimedBy !== undefined) {
    throw new Error(
      claimedBy === 'entry'
        ? '[@shallot/serve] serve() was called by the module that shallot-serve loads: export the handler instead, shallot-serve serves it'
        : '[@shallot/serve] serve() was called twice in one worker: a worker serves one handler'
    )
  }
  claimedBy = by
  return config
}

function send(message: WorkerMessage, then?: () => void): void {
  if (process.send === undefined || !process.connected) {
    then?.()
    return
  }
  let called = false
  const done = () => {
    if (called) return
    called = true
    then?.()
  }
  // The IPC callback can be lost if the primary is going away: do not wait forever for it.
  if (then !== undefined) setTimeout(done, 2000).unref()
  try {
    process.send(message, undefined, undefined, () => done())
  } catch {
    done()
  }
}

function primaryMessage(message: unknown): PrimaryMessage['shallotServe'] | undefined {
  if (typeof message !== 'object' || message === null) return undefined
  const type = (message as Partial<PrimaryMessage>).shallotServe
  return type === 'shutdown' || type === 'exit' ? type : undefined
}

/** How long a stopped worker waits for the primary's `exit` before exiting anyway. */
const EXIT_WAIT_MS = 2000

/**
 * @internal A worker's side: listens for the primary's shutdown and for signals before the
 * application is loaded, then serves it, reports `listening`, asks to be replaced after
 * `maxRequests`, and shuts down gracefully when told (or on SIGTERM/SIGINT; a second one
 * exits at once).
 */
export class WorkerRuntime {
  readonly config: WorkerConfig
  readonly ready: Promise<ServeAddress>
  readonly closed: Promise<number>
  address: ServeAddress | undefined
  readonly #log: (line: string) => void
  #managed: ManagedServer | undefined
  #stopping: Promise<number> | undefined
  #signals = 0
  #resolveReady!: (address: ServeAddress) => void
  #rejectReady!: (err: Error) => void
  #resolveClosed!: (code: number) => void
  #exitAllowed: (() => void) | undefined

  constructor(config: WorkerConfig, log: (line: string) => void) {
    this.config = config
    this.#log = log
    this.ready = new Promise<ServeAddress>((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    this.ready.catch(() => {})
    this.closed = new Promise<number>((resolve) => {
      this.#resolveClosed = resolve
    })
    process.on('message', (message: unknown) => {
      const type = primaryMessage(message)
      if (type === 'shutdown') void this.stop()
      else if (type === 'exit') this.#exitAllowed?.()
    })
    const onSignal = (signal: NodeJS.Signals) => {
      if (++this.#signals === 1) void this.stop()
      else process.exit(signalExitCode(signal))
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    // A hang-up reaches the whole process group: the primary decides (it replaces workers).
    process.on('SIGHUP', () => {})
  }

  /** The node:http server, once the application is loaded. */
  get server(): Server | undefined {
    return this.#managed?.server
  }

  /** Serves `handler`: listens and tells the primary. */
  start(handler: RequestListener): void {
    if (this.#stopping !== undefined) return
    const { config } = this
    let asked = false
    const managed = new ManagedServer(handler, config, this.#log, (count) => {
      if (!asked && config.maxRequests > 0 && count >= config.maxRequests) {
        asked = true
        send({ shallotServe: 'recycle', requests: count })
      }
    })
    this.#managed = managed
    managed.listen(config.port, config.host).then(
      (info) => {
        this.address = toServeAddress(info)
        send({ shallotServe: 'listening', address: info.address, port: info.port })
        this.#resolveReady(this.address)
      },
      (err: unknown) => {
        const message = listenErrorText(err, config.host, config.port)
        this.#rejectReady(new ServeError('ERR_SERVE_LISTEN', message, { cause: err }))
        send({ shallotServe: 'boot-error', stage: 'listen', message }, () =>
          process.exit(EXIT_CODES.ERR_SERVE_LISTEN)
        )
      }
    )
  }

  /** Reports an application that could not be loaded, and exits. */
  failLoad(err: ServeError): void {
    this.#rejectReady(err)
    send({ shallotServe: 'boot-error', stage: 'load', message: err.message }, () =>
      process.exit(EXIT_CODES.ERR_SERVE_LOAD)
    )
  }

  /** Graceful shutdown of this worker, then exit(0). */
  stop(): Promise<number> {
    if (this.#stopping !== undefined) return this.#stopping
    this.#stopping = (async () => {
      const managed = this.#managed
      if (managed === undefined) {
        this.#resolveClosed(0)
        process.exit(0)
      }
      const { drained, cut } = await managed.shutdown(this.config.shutdownTimeout)
      // Closing the server told the primary to stop routing connections here, but it may
      // have handed one over before it knew: exiting now would lose it (cluster waits for an
      // answer that never comes). The primary's `exit` comes after any such hand-over, which
      // this worker then refuses, and cluster gives it to another worker.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, EXIT_WAIT_MS)
        this.#exitAllowed = () => {
          clearTimeout(timer)
          resolve()
        }
        send({ shallotServe: 'stopped', drained, cut, requests: managed.requests })
        if (process.send === undefined || !process.connected) resolve()
      })
      this.#resolveClosed(0)
      process.exit(0)
    })()
    return this.#stopping
  }
}
