import cluster, { type Worker } from 'node:cluster'
import { randomInt } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { type ServeAddress, toServeAddress } from './address.js'
import { EXIT_CODES, errorText, firstLine, ServeError } from './errors.js'
import { hookLabel, runHook } from './hooks.js'
import type { ResolvedOptions } from './options.js'
import { signalExitCode } from './signals.js'
import { WORKER_ENV, type WorkerConfig, type WorkerMessage } from './worker.js'

interface Member {
  worker: Worker
  pid: number
  slot: number
  /** The port it was told to listen with (0, or the primary's port after a restart). */
  listenKey: number
  /** Its maxRequests, jitter included. */
  limit: number
  /** performance.now() when it reported listening. */
  listenedAt: number | undefined
  /** Told to shut down (replaced, or the server is stopping): its exit is expected. */
  retiring: boolean
  /** While booting as the replacement of another member: that member. */
  replaces: Member | undefined
  /** While its replacement boots: the replacement. */
  replacement: Member | undefined
  /** It asked to be replaced (maxRequests) or a reload was asked. */
  wantsReplacement: boolean
  /** It listened on another port than the primary's (port 0, see portKey()). */
  wrongPort: boolean
  bootError: { stage: 'load' | 'listen'; message: string } | undefined
  uptimeTimer: NodeJS.Timeout | undefined
}

function isWorkerMessage(message: unknown): message is WorkerMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { shallotServe?: unknown }).shallotServe === 'string'
  )
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/** @internal How the primary's workers run the application. */
export type WorkerProgram =
  | { kind: 'module'; url: string }
  | { kind: 'script'; path: string; args: string[] }

/**
 * @internal The primary: forks `workers` workers and keeps that many serving. A worker that
 * dies is restarted (with back-off while they crash at start, giving up after maxRestarts),
 * one that served maxRequests is replaced once its replacement listens, and a shutdown lets
 * every worker finish what it serves.
 */
export class Supervisor {
  readonly ready: Promise<ServeAddress>
  readonly closed: Promise<number>
  address: ServeAddress | undefined
  readonly #o: ResolvedOptions
  readonly #program: WorkerProgram
  readonly #members = new Set<Member>()
  /** The member that holds each slot (serving or booting), by slot number. */
  readonly #slots = new Map<number, Member>()
  readonly #restartTimers = new Map<number, NodeJS.Timeout>()
  /** Deaths at start in a row (see minUptime). */
  #crashes = 0
  /** The port the workers share, once one has listened. */
  #boundPort: number | undefined
  #isReady = false
  #stopping: Promise<number> | undefined
  #stopCode = 0
  #hardKill: NodeJS.Timeout | undefined
  #resolveReady!: (address: ServeAddress) => void
  #rejectReady!: (err: Error) => void
  #resolveClosed!: (code: number) => void
  #resolveStop: (() => void) | undefined

  constructor(program: WorkerProgram, options: ResolvedOptions) {
    this.#o = options
    this.#program = program
    this.ready = new Promise<ServeAddress>((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    this.ready.catch(() => {})
    this.closed = new Promise<number>((resolve) => {
      this.#resolveClosed = resolve
    })
    if (options.primary.length === 0) this.#start()
    else void this.#runHooks()
  }

  /**
   * Runs the primary hooks in order, then forks the workers; a failing hook stops everything.
   * A hook that waits for something nothing in the process can bring about (a top-level
   * `await` of a promise that never settles, with no timer or socket left) would let the
   * process exit 0 with nothing said: `beforeExit` tells that moment, and it fails instead.
   */
  async #runHooks(): Promise<void> {
    let label = ''
    let stalled: (err: ServeError) => void = () => {}
    const stall = new Promise<never>((_, reject) => {
      stalled = reject
    })
    stall.catch(() => {})
    const onBeforeExit = () =>
      stalled(
        new ServeError(
          'ERR_SERVE_LOAD',
          `the primary hook ${label} never finished: it waits for a promise that nothing left in the process can settle`
        )
      )
    process.on('beforeExit', onBeforeExit)
    try {
      for (const hook of this.#o.primary) {
        if (this.#stopping !== undefined) return
        label = hookLabel(hook)
        try {
          await Promise.race([runHook(hook), stall])
        } catch (err) {
          const e =
            err instanceof ServeError ? err : new ServeError('ERR_SERVE_LOAD', errorText(err))
          if (this.#stopping !== undefined) return
          this.#o.log(e.message)
          this.#o.log(
            `stopping: a primary hook failed, no worker was started (exit code ${e.exitCode})`
          )
          this.#fail(e)
          return
        }
        this.#o.log(`primary hook ${label} done`)
      }
    } finally {
      process.off('beforeExit', onBeforeExit)
    }
    this.#start()
  }

  /** Forks the workers (once the primary hooks are done). */
  #start(): void {
    if (this.#stopping !== undefined) return
    if (this.#program.kind === 'module') {
      cluster.setupPrimary({
        exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
        args: [],
      })
    } else {
      cluster.setupPrimary({ exec: this.#program.path, args: this.#program.args })
    }
    for (let slot = 1; slot <= this.#o.workers; slot++) this.#fork(slot, undefined)
  }

  /** The pids of the workers that serve or are starting (not those being retired). */
  get workers(): number[] {
    return [...this.#members].filter((m) => !m.retiring).map((m) => m.pid)
  }

  #label(m: Member): string {
    return `worker ${m.slot} (pid ${m.pid})`
  }

  /**
   * The port a new worker listens with. On a fixed port, that port. On port 0, cluster binds
   * one port for every worker that listens with 0, and releases it when the last of them
   * exits: a worker forked after that would get a new random port. So a new worker listens
   * with 0 while a worker still listens with 0, and otherwise with the port they had.
   */
  #portKey(): number {
    if (this.#o.port !== 0 || this.#boundPort === undefined) return this.#o.port
    for (const m of this.#members) {
      if (m.listenedAt !== undefined && !m.retiring && !m.wrongPort && m.listenKey === 0) return 0
    }
    return this.#boundPort
  }

  #fork(slot: number, replacing: Member | undefined): void {
    const o = this.#o
    const listenKey = this.#portKey()
    const limit = o.maxRequests > 0 ? o.maxRequests + randomInt(0, o.maxRequestsJitter + 1) : 0
    const config: WorkerConfig = {
      slot,
      port: listenKey,
      keepAliveTimeout: o.keepAliveTimeout,
      headersTimeout: o.headersTimeout,
      requestTimeout: o.requestTimeout,
      shutdownTimeout: o.shutdownTimeout,
      maxRequests: limit,
    }
    if (o.host !== undefined) config.host = o.host
    if (this.#program.kind === 'module') config.module = this.#program.url
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(config) })
    const m: Member = {
      worker,
      pid: worker.process.pid ?? 0,
      slot,
      listenKey,
      limit,
      listenedAt: undefined,
      retiring: false,
      replaces: replacing,
      replacement: undefined,
      wantsReplacement: false,
      wrongPort: false,
      bootError: undefined,
      uptimeTimer: undefined,
    }
    this.#members.add(m)
    if (replacing === undefined) this.#slots.set(slot, m)
    else replacing.replacement = m
    // EPIPE and the like when sending to a worker that is dying: its exit is handled below.
    worker.on('error', () => {})
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.#onMessage(m, message)
    })
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      // Cluster routes connections to a worker until its IPC channel is closed: handle the
      // death (and log it, and restart) only after that.
      if (!worker.isConnected()) {
        this.#onExit(m, code, signal)
        return
      }
      let handled = false
      const once = () => {
        if (handled) return
        handled = true
        clearTimeout(fallback)
        this.#onExit(m, code, signal)
      }
      const fallback = setTimeout(once, 1000)
      worker.once('disconnect', once)
    })
    o.log(
      `${this.#label(m)} started${replacing === undefined ? '' : ` to replace pid ${replacing.pid}`}`
    )
  }

  #onMessage(m: Member, message: WorkerMessage): void {
    switch (message.shallotServe) {
      case 'listening':
        this.#onListening(m, message.address, message.port)
        break
      case 'recycle':
        if (this.#stopping !== undefined || m.retiring || m.wantsReplacement) return
        m.wantsReplacement = true
        this.#o.log(`${this.#label(m)} served ${message.requests} requests: replacing it`)
        if (m.replaces === undefined && m.replacement === undefined) this.#fork(m.slot, m)
        break
      case 'boot-error':
        m.bootError = { stage: message.stage, message: message.message }
        break
      case 'stopped':
        // It closed its server before sending this: cluster no longer routes to it.
        try {
          m.worker.send({ shallotServe: 'exit' })
        } catch {
          // Gone already.
        }
        if (!message.drained) {
          this.#o.log(
            `${this.#label(m)}: shutdownTimeout (${this.#o.shutdownTimeout} ms) reached, ${message.cut} request(s) in flight were cut`
          )
        }
        break
    }
  }

  #onListening(m: Member, address: string, port: number): void {
    const o = this.#o
    if (o.port === 0 && this.#boundPort !== undefined && port !== this.#boundPort) {
      // Every worker on the shared port 0 exited while this one was starting.
      m.wrongPort = true
      o.log(`${this.#label(m)} got port ${port} instead of ${this.#boundPort}: restarting it`)
      m.worker.process.kill('SIGKILL')
      return
    }
    m.listenedAt = performance.now()
    this.#boundPort ??= port
    this.address ??= toServeAddress({ address, port })
    m.uptimeTimer = setTimeout(() => {
      if (this.#members.has(m)) this.#crashes = 0
    }, o.minUptime)
    m.uptimeTimer.unref()
    o.log(
      `${this.#label(m)} listening${m.limit > 0 ? ` (replaced after ${m.limit} requests)` : ''}`
    )
    if (this.#stopping !== undefined) {
      this.#retire(m)
      return
    }
    const old = m.replaces
    if (old !== undefined) {
      m.replaces = undefined
      old.replacement = undefined
      this.#slots.set(m.slot, m)
      this.#retire(old)
    }
    if (!this.#isReady && this.#allServing()) {
      this.#isReady = true
      const address = this.address as ServeAddress
      o.log(
        `listening on ${address.url} (${o.workers} worker${o.workers === 1 ? '' : 's'}, primary pid ${process.pid})`
      )
      this.#resolveReady(address)
    }
  }

  #allServing(): boolean {
    for (let slot = 1; slot <= this.#o.workers; slot++) {
      if (this.#slots.get(slot)?.listenedAt === undefined) return false
    }
    return true
  }

  /** Tells a worker to stop accepting, finish what it serves, and exit. */
  #retire(m: Member): void {
    m.retiring = true
    if (m.listenedAt === undefined) {
      // Still loading: nothing to drain.
      m.worker.process.kill('SIGTERM')
      return
    }
    try {
      m.worker.send({ shallotServe: 'shutdown' })
    } catch {
      m.worker.process.kill('SIGTERM')
    }
  }

  #onExit(m: Member, code: number | null, signal: NodeJS.Signals | null): void {
    const o = this.#o
    this.#members.delete(m)
    clearTimeout(m.uptimeTimer)
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`
    if (this.#stopping !== undefined) {
      if (this.#members.size === 0) this.#resolveStop?.()
      return
    }
    if (this.#slots.get(m.slot) === m) this.#slots.delete(m.slot)
    if (m.retiring) {
      o.log(`${this.#label(m)} stopped`)
      return
    }
    // An unexpected death.
    const replacement = m.replacement
    if (replacement !== undefined) {
      // It died while its replacement was starting: the replacement takes the slot.
      replacement.replaces = undefined
      m.replacement = undefined
      this.#slots.set(m.slot, replacement)
    }
    if (m.replaces !== undefined) m.replaces.replacement = undefined
    if (m.wrongPort) {
      this.#schedule(m, 0)
      return
    }
    if (m.bootError !== undefined && !this.#isReady) {
      // The application cannot load, or the port cannot be bound: restarting would not help.
      const err =
        m.bootError.stage === 'load'
          ? new ServeError('ERR_SERVE_LOAD', m.bootError.message)
          : new ServeError('ERR_SERVE_LISTEN', m.bootError.message)
      o.log(`${this.#label(m)} ${err.message}`)
      o.log(`stopping: the workers cannot start (exit code ${err.exitCode})`)
      this.#fail(err)
      return
    }
    const uptime = m.listenedAt === undefined ? undefined : performance.now() - m.listenedAt
    const when = uptime === undefined ? 'before listening' : `after ${duration(uptime)}`
    // The whole error (a load error carries its stack) on its own lines, its first line in
    // the one that says what happens next.
    if (m.bootError !== undefined) o.log(`${this.#label(m)} ${m.bootError.message}`)
    const why = m.bootError === undefined ? '' : `: ${firstLine(m.bootError.message)}`
    if (uptime !== undefined && uptime >= o.minUptime) {
      this.#crashes = 0
      o.log(`${this.#label(m)} ${how} ${when}${why}; restarting it`)
      this.#schedule(m, 0)
      return
    }
    this.#crashes++
    if (this.#crashes > o.maxRestarts) {
      o.log(`${this.#label(m)} ${how} ${when}${why}`)
      const err = new ServeError(
        'ERR_SERVE_CRASHING',
        `giving up: ${this.#crashes} workers in a row crashed within minUptime (${o.minUptime} ms), more than maxRestarts (${o.maxRestarts})`
      )
      o.log(`${err.message}; stopping (exit code ${err.exitCode})`)
      this.#fail(err)
      return
    }
    const delay = Math.min(o.restartDelay * 2 ** (this.#crashes - 1), o.maxRestartDelay)
    o.log(
      `${this.#label(m)} ${how} ${when}${why}; restarting it in ${delay} ms (crash ${this.#crashes} in a row, giving up after ${o.maxRestarts})`
    )
    this.#schedule(m, delay)
  }

  /**
   * After `delay`, fills the slot of `dead` again: a new worker if the slot is empty, or a
   * replacement if its worker still wants one (a replacement that died).
   */
  #schedule(dead: Member, delay: number): void {
    const slot = dead.slot
    clearTimeout(this.#restartTimers.get(slot))
    const timer = setTimeout(() => {
      this.#restartTimers.delete(slot)
      if (this.#stopping !== undefined) return
      const holder = this.#slots.get(slot)
      if (holder === undefined) this.#fork(slot, undefined)
      else if (holder.wantsReplacement && holder.replacement === undefined && !holder.retiring) {
        this.#fork(slot, holder)
      }
    }, delay)
    this.#restartTimers.set(slot, timer)
  }

  /** Replaces every worker, new ones first (SIGHUP). */
  reload(): void {
    if (this.#stopping !== undefined) return
    for (const m of this.#slots.values()) {
      if (m.retiring || m.listenedAt === undefined || m.replacement !== undefined) continue
      m.wantsReplacement = true
      this.#fork(m.slot, m)
    }
  }

  #fail(err: ServeError): void {
    if (!this.#isReady) this.#rejectReady(err)
    void this.stop(err.exitCode)
  }

  /**
   * Graceful shutdown: every worker stops accepting, finishes its requests (within
   * shutdownTimeout) and exits; workers still loading are terminated. Resolves with `code`
   * once every worker has exited.
   */
  stop(code: number = EXIT_CODES.ok): Promise<number> {
    if (this.#stopping !== undefined) return this.#stopping
    this.#stopCode = code
    for (const timer of this.#restartTimers.values()) clearTimeout(timer)
    this.#restartTimers.clear()
    if (!this.#isReady) {
      this.#rejectReady(new Error('[@shallot/serve] the server was stopped before it was ready'))
    }
    this.#stopping = new Promise<number>((resolve) => {
      this.#resolveStop = () => {
        clearTimeout(this.#hardKill)
        this.#o.log(`stopped (exit code ${this.#stopCode})`)
        this.#resolveClosed(this.#stopCode)
        resolve(this.#stopCode)
      }
    })
    for (const m of this.#members) this.#retire(m)
    // Workers enforce shutdownTimeout themselves; this is for one that cannot (a blocked
    // event loop).
    this.#hardKill = setTimeout(() => {
      for (const m of this.#members) m.worker.process.kill('SIGKILL')
    }, this.#o.shutdownTimeout + 3000)
    if (this.#members.size === 0) this.#resolveStop?.()
    return this.#stopping
  }

  /** A second signal: kill every worker now. Resolves `closed` with 128 + the signal number. */
  force(signal: NodeJS.Signals): number {
    const code = signalExitCode(signal)
    this.#stopCode = code
    for (const m of this.#members) m.worker.process.kill('SIGKILL')
    this.#o.log(`${signal} again: killed the workers (exit code ${code})`)
    this.#resolveClosed(code)
    return code
  }
}
