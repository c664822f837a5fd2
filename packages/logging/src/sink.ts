/*
 * Where lines go. A stream gets lines batched into few writes, backpressure honoured with a
 * bounded buffer, drops counted and reported; a function or a pino-style logger is called
 * per entry. No sink failure reaches a request.
 */
import { writeSync } from 'node:fs'
import { isoDate } from './clock.js'
import type { LogLevel } from './entry.js'

/** What `sink` accepts as a stream: a Node Writable such as `fs.WriteStream`, `process.stdout` or a socket. */
export interface LogStream {
  write(chunk: string, callback?: (err?: Error | null) => void): boolean
  once(event: 'drain', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  end?(callback?: () => void): unknown
  readonly destroyed?: boolean
  readonly writableEnded?: boolean
  readonly isTTY?: boolean
}

/** A logging method of a pino-style logger: `(obj, msg)` or `(msg)`. */
export type LogMethod = {
  (obj: object, msg?: string): void
  (msg: string): void
}

/**
 * A pino-style logger (pino, and bunyan or winston child loggers with the same methods):
 * lines go to `info` below 400, `warn` for 4xx and aborted exchanges, `error` for 5xx.
 */
export interface LoggerLike {
  info: LogMethod
  warn: LogMethod
  error: LogMethod
  /** Called by `flush()` when present (pino flushes its asynchronous destination). */
  flush?(callback?: (err?: Error) => void): void
}

/** Counters of a logging layer (all since it was created). */
export interface LoggingStats {
  /** Lines handed to the sink. */
  readonly written: number
  /**
   * Lines lost: the buffer was full while the stream applied backpressure, the stream had
   * failed or was closed, or the sink or format function threw. Never silent: a stream also
   * gets an "N lines dropped" line once it drains, and a warning is emitted.
   */
  readonly dropped: number
  /** Lines held in memory, waiting for a slow stream to drain (or for the next turn). */
  readonly buffered: number
  /** Failures: stream `error` events and exceptions thrown by the sink, `skip` or the format. */
  readonly errors: number
}

/** The counters and the once-only warnings shared by every sink. @internal */
export class Health {
  written = 0
  dropped = 0
  errors = 0
  readonly #warned = new Set<string>()

  /** Emits a process warning once per code for this layer. */
  warn(code: string, message: string): void {
    if (this.#warned.has(code)) return
    this.#warned.add(code)
    process.emitWarning(`[@shallot/logging] ${message}`, { code })
  }

  fault(code: string, what: string, err: unknown): void {
    this.errors++
    this.warn(
      code,
      `${what}: ${err instanceof Error ? err.message : String(err)} (further failures are counted in stats().errors, not reported)`
    )
  }
}

// Lines of streams still waiting for their turn, written synchronously if the process exits
// first (process.stdout/stderr to files and pipes are synchronous on POSIX).
const pending = new Set<StreamSink>()
let exitHooked = false
function onExit(): void {
  for (const sink of pending) sink.flushAtExit()
}

// One 'error' listener per stream, whatever the number of layers writing to it (several
// logging() to process.stdout must not pile up listeners).
const watched = new WeakMap<LogStream, Set<StreamSink>>()
function watchErrors(stream: LogStream, sink: StreamSink): void {
  let sinks = watched.get(stream)
  if (sinks === undefined) {
    const set = new Set<StreamSink>()
    sinks = set
    watched.set(stream, set)
    stream.on('error', (err) => {
      for (const s of set) s.failed(err)
    })
  }
  sinks.add(sink)
}

/** Past this many characters waiting, lines are written without waiting for the interval. */
const BATCH = 64 * 1024

/**
 * A Writable sink. Lines are appended to one pending string and handed to the stream in one
 * `write`: `interval` ms after the first of them (0: on the next turn of the event loop),
 * or at once when 64 KiB wait. One write at a time, and none while the stream asks to wait
 * (`write()` returned false, until 'drain'): lines logged meanwhile join the next write. The
 * pending lines are bounded by `limit` characters; beyond it lines are dropped, counted,
 * and summarised in one line when the stream catches up.
 *
 * Why batch: a write to a file costs about 15 µs of CPU whatever its size, plus 0.1 µs per
 * line (measured on the bench machine, ext4), so one write per line would cost more than
 * the request itself; per turn of the event loop a busy server writes a handful of lines
 * at a time, and with a 10 ms interval hundreds.
 * @internal
 */
export class StreamSink {
  readonly #stream: LogStream
  readonly #health: Health
  readonly #limit: number
  readonly #json: boolean
  readonly #interval: number
  #pending = ''
  #pendingLines = 0
  #scheduled = false
  /** A write's callback has not been called yet. */
  #inflight = false
  /** The stream returned false: wait for 'drain'. */
  #blocked = false
  #unreported = 0
  #broken = false
  #closed = false
  #waiters: (() => void)[] = []
  readonly #onTick = (): void => {
    this.#scheduled = false
    this.#pump(true)
  }
  readonly #onWritten = (): void => {
    this.#inflight = false
    this.#pump(false)
  }
  readonly #onDrain = (): void => {
    this.#blocked = false
    this.#pump(false)
  }

  constructor(stream: LogStream, health: Health, limit: number, json: boolean, interval: number) {
    this.#stream = stream
    this.#health = health
    this.#limit = limit
    this.#json = json
    this.#interval = interval
    // A stream error must not crash the process (an 'error' without listener throws) nor
    // any request: it is counted and reported once.
    watchErrors(stream, this)
    if (!exitHooked) {
      exitHooked = true
      process.on('exit', onExit)
    }
  }

  get buffered(): number {
    return this.#pendingLines
  }

  /** The stream emitted 'error'. */
  failed(err: Error): void {
    if (this.#broken) return
    this.#broken = true
    this.#health.fault('SHALLOT_LOGGING_SINK_ERROR', 'the log stream failed', err)
    this.#discard()
  }

  /** Takes `text` (without its final newline); `lines`: how many lines it holds. */
  text(text: string, lines: number): void {
    if (this.#closed || this.#unusable()) {
      this.#lost(lines)
      return
    }
    const free = !this.#inflight && !this.#blocked
    if (this.#pending.length + text.length > this.#limit) {
      if (!free) {
        this.#drop(lines)
        return
      }
      // Free: hand over what waits, and take this line even if it alone is over the limit.
      if (this.#pending !== '') this.#send()
    }
    this.#pending += `${text}\n`
    this.#pendingLines += lines
    if (this.#inflight || this.#blocked) return
    if (this.#pending.length >= BATCH) this.#send()
    else this.#schedule()
  }

  /** Writes what is pending after the interval (lines logged meanwhile join it). */
  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    pending.add(this)
    if (this.#interval === 0) setImmediate(this.#onTick)
    else setTimeout(this.#onTick, this.#interval).unref()
  }

  #drop(lines: number): void {
    this.#health.dropped += lines
    this.#unreported += lines
    this.#health.warn(
      'SHALLOT_LOGGING_DROPPED',
      `the log stream is slower than the requests: lines beyond "bufferSize" (${this.#limit} characters) are dropped and counted (stats().dropped); a summary line follows when it catches up`
    )
  }

  #unusable(): boolean {
    if (this.#broken) return true
    const s = this.#stream
    if (s.destroyed === true || s.writableEnded === true) {
      this.#broken = true
      this.#health.warn(
        'SHALLOT_LOGGING_SINK_CLOSED',
        'the log stream is closed or destroyed: lines are dropped (counted in stats().dropped)'
      )
      this.#discard()
      return true
    }
    return false
  }

  #lost(lines: number): void {
    this.#health.dropped += lines
    if (this.#closed) {
      this.#health.warn(
        'SHALLOT_LOGGING_CLOSED',
        'a line was logged after close(): it is dropped (counted in stats().dropped)'
      )
    }
  }

  /** The stream failed: what waits is lost (and counted), and flush() stops waiting. */
  #discard(): void {
    this.#health.dropped += this.#pendingLines
    this.#pending = ''
    this.#pendingLines = 0
    // Nothing left for the exit hook either: do not keep the sink (and its stream) alive.
    pending.delete(this)
    this.#release()
  }

  /**
   * When the stream is free: writes what is pending now (`now`, a flush() waiting, a summary
   * to write, or a full batch) or at the interval; resolves flush() once all is written.
   */
  #pump(now: boolean): void {
    if (this.#inflight || this.#blocked) return
    // Nothing to write (the interval's timer after a flush(), say): whether the stream has
    // been ended since does not matter, and is no reason to warn.
    if (this.#pending === '' && this.#unreported === 0) {
      pending.delete(this)
      this.#release()
      return
    }
    if (this.#unusable()) return
    if (now || this.#waiters.length > 0 || this.#unreported > 0 || this.#pending.length >= BATCH) {
      this.#send()
    } else {
      this.#schedule()
    }
  }

  #send(): void {
    if (this.#unreported > 0) {
      this.#pending += `${this.#summary(this.#unreported)}\n`
      this.#pendingLines++
      this.#unreported = 0
    }
    const chunk = this.#pending
    const lines = this.#pendingLines
    this.#pending = ''
    this.#pendingLines = 0
    this.#inflight = true
    let ok: boolean
    try {
      ok = this.#stream.write(chunk, this.#onWritten)
    } catch (err) {
      this.#inflight = false
      this.#broken = true
      this.#health.dropped += lines
      this.#health.fault('SHALLOT_LOGGING_SINK_ERROR', 'the log stream threw', err)
      this.#discard()
      return
    }
    this.#health.written += lines
    if (!ok && !this.#broken) {
      this.#blocked = true
      this.#stream.once('drain', this.#onDrain)
    }
  }

  #summary(n: number): string {
    const message = `[@shallot/logging] ${n} ${n === 1 ? 'line' : 'lines'} dropped: the log stream was too slow`
    return this.#json
      ? `{"time":"${isoDate(Date.now())}","level":"warn","msg":"${message}","dropped":${n}}`
      : message
  }

  /** Resolves the flush() calls waiting for the stream. */
  #release(): void {
    const waiters = this.#waiters
    if (waiters.length === 0) return
    this.#waiters = []
    for (const w of waiters) w()
  }

  flush(): Promise<void> {
    if (this.#broken) return Promise.resolve()
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve))
    this.#pump(true)
    return done
  }

  async close(): Promise<void> {
    await this.flush()
    this.#closed = true
    const s = this.#stream
    watched.get(s)?.delete(this)
    if (s === process.stdout || s === process.stderr || typeof s.end !== 'function') return
    if (s.destroyed === true || s.writableEnded === true) return
    await new Promise<void>((resolve) => {
      try {
        ;(s.end as (cb: () => void) => unknown)(() => resolve())
      } catch {
        resolve()
      }
    })
  }

  /** At process exit: hand everything over now, whatever the stream's state (best effort). */
  flushAtExit(): void {
    let chunk = this.#pending
    if (this.#unreported > 0) chunk += `${this.#summary(this.#unreported)}\n`
    if (chunk === '' || this.#broken) return
    this.#pending = ''
    this.#pendingLines = 0
    this.#unreported = 0
    const s = this.#stream
    // A file stream writes asynchronously, which does not happen once the process exits:
    // write to its descriptor directly. process.stdout/stderr are synchronous to files and
    // pipes on POSIX.
    const fd = (s as { fd?: unknown }).fd
    try {
      if (typeof fd === 'number' && s !== process.stdout && s !== process.stderr) {
        writeSync(fd, chunk)
      } else {
        s.write(chunk)
      }
    } catch {
      // nothing more can be done at exit
    }
  }
}

/** Shape of a function sink. */
export type SinkFunction<R> = (line: string, record: R) => void

/** Calls a function per entry. @internal */
export function callSink<R>(fn: SinkFunction<R>, health: Health, line: string, record: R): void {
  try {
    fn(line, record)
    health.written++
  } catch (err) {
    health.dropped++
    health.fault('SHALLOT_LOGGING_SINK_ERROR', 'the sink function threw', err)
  }
}

/** Calls `logger[level]` per entry. @internal */
export function callLogger(
  logger: LoggerLike,
  health: Health,
  level: LogLevel,
  obj: object | undefined,
  msg: string
): void {
  try {
    if (obj === undefined) logger[level](msg)
    else logger[level](obj, msg)
    health.written++
  } catch (err) {
    health.dropped++
    health.fault('SHALLOT_LOGGING_SINK_ERROR', `the logger's ${level}() threw`, err)
  }
}

/** flush() of a logger that has one (pino), without hanging on one that never calls back. @internal */
export function flushLogger(logger: LoggerLike): Promise<void> {
  const flush = logger.flush
  if (typeof flush !== 'function') return Promise.resolve()
  return new Promise<void>((resolve) => {
    try {
      if (flush.length === 0) {
        flush.call(logger)
        resolve()
      } else {
        flush.call(logger, () => resolve())
      }
    } catch {
      resolve()
    }
  })
}
