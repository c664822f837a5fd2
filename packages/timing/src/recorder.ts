import type { IncomingMessage } from 'node:http'
import { isMetricName, MAX_NAME_LENGTH } from './format.js'

/** One metric recorded for a request. */
export interface TimingEntry {
  /** The metric name (an HTTP token). */
  readonly name: string
  /** The description, as given (escaped only when the header is written). */
  readonly desc: string | undefined
  /** `performance.now()` when `start()` or `measure()` began it; `undefined` for `add()`. */
  readonly start: number | undefined
  /** Duration in milliseconds; `undefined` while the mark is open or when added without one. */
  readonly dur: number | undefined
}

/** A layer the stack's tracer saw this request enter (see `traceLayers()`). */
export interface LayerSpan {
  /** The layer's name as the stack reports it (`'app'` for the innermost handler). */
  readonly layer: string
  /** `performance.now()` when the request entered the layer. */
  readonly start: number
  /**
   * `performance.now()` when the request entered the next layer inside, or `undefined`
   * for the innermost layer entered.
   */
  readonly next: number | undefined
  /**
   * `performance.now()` when the layer's handler returned or its promise settled (an
   * inclusive span); `undefined` until then, or when the tracer gets no exit calls.
   */
  readonly end: number | undefined
}

/** The optional fields of a one-shot metric added with {@link Timing.add}. */
export interface MetricInit {
  /** Duration in milliseconds: a finite number >= 0. */
  dur?: number
  /** Free text; escaped for the header (quotes, backslashes, CR/LF...). */
  desc?: string
}

/**
 * The per-request recorder returned by `getTiming(req)`. Every method is safe to call when
 * no `serverTiming()` layer is in front (it then does nothing), so application code never
 * has to check. Names must be HTTP tokens of 1 to 64 characters (`db`, `cache.read`,
 * `auth-jwt`): anything else throws a `TypeError`, as a misspelt option would.
 */
export interface Timing {
  /**
   * Whether a `serverTiming()` layer records for this request. Whether the entries are
   * sent is decided when the head is written (see the `expose` option).
   */
  readonly active: boolean
  /**
   * Opens a mark. End it with `end(name)`; a mark still open when the head is written is
   * ended then.
   */
  start(name: string, desc?: string): void
  /**
   * Ends the most recently started open mark called `name` and returns its duration in
   * milliseconds; `undefined` if no such mark is open.
   */
  end(name: string): number | undefined
  /** Adds a one-shot metric: a duration you measured, a description, or just a name (a flag). */
  add(name: string, metric?: MetricInit): void
  /**
   * Runs `fn`, timing it as a mark called `name`. When `fn` returns a promise the mark ends
   * when it settles. Returns what `fn` returns; a throw or rejection still ends the mark.
   */
  measure<T>(name: string, fn: () => T, desc?: string): T
  /** Every metric recorded so far (up to the limit), in order. */
  readonly entries: readonly TimingEntry[]
  /** How many metrics were dropped because the limit was reached. */
  readonly dropped: number
  /** The layers the stack's tracer reported for this request, outermost first. */
  readonly layers: readonly LayerSpan[]
}

/** @internal */
export class Mark implements TimingEntry {
  constructor(
    readonly name: string,
    readonly desc: string | undefined,
    readonly start: number | undefined,
    public dur: number | undefined
  ) {}
}

/** @internal */
export class Span implements LayerSpan {
  next: number | undefined = undefined
  end: number | undefined = undefined
  constructor(
    readonly layer: string,
    /** The Server-Timing metric name, e.g. `layer.cors`. */
    readonly metric: string,
    readonly start: number,
    /** Reported by `enter` (true) or only by `exit` (false). */
    readonly entered: boolean
  ) {}
}

const kTiming: unique symbol = Symbol('shallot.timing')
const kSpans: unique symbol = Symbol('shallot.timing.layers')

interface TimedRequest extends IncomingMessage {
  [kTiming]?: Recorder
  [kSpans]?: Span[]
}

const NO_SPANS: readonly LayerSpan[] = Object.freeze([])

export function checkName(name: unknown, method: string): asserts name is string {
  if (!isMetricName(name)) {
    throw new TypeError(
      `[@shallot/timing] ${method}: the metric name must be an HTTP token of 1 to ${MAX_NAME_LENGTH} characters (letters, digits and !#$%&'*+-.^_\`|~), got ${describe(name)}`
    )
  }
}

function checkDesc(desc: unknown, method: string): asserts desc is string | undefined {
  if (desc !== undefined && typeof desc !== 'string') {
    throw new TypeError(
      `[@shallot/timing] ${method}: the description must be a string, got ${describe(desc)}`
    )
  }
}

function checkMetric(metric: unknown): asserts metric is MetricInit | undefined {
  if (metric === undefined) return
  if (typeof metric !== 'object' || metric === null) {
    throw new TypeError(
      `[@shallot/timing] add: the metric must be an object { dur?, desc? }, got ${describe(metric)}`
    )
  }
  const { dur, desc } = metric as MetricInit
  if (dur !== undefined && (typeof dur !== 'number' || !Number.isFinite(dur) || dur < 0)) {
    throw new TypeError(
      `[@shallot/timing] add: "dur" must be a finite number of milliseconds >= 0, got ${describe(dur)}`
    )
  }
  checkDesc(desc, 'add')
}

/** @internal A short, safe rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'symbol' || typeof value === 'bigint') return typeof value
  return String(value)
}

/** The recorder a `serverTiming()` layer puts on a request. @internal */
export class Recorder implements Timing {
  readonly active = true
  readonly entries: Mark[] = []
  dropped = 0
  /** How many marks are open, so head time can skip the scan when there are none. */
  open = 0

  constructor(
    private readonly req: IncomingMessage,
    readonly startTime: number,
    private readonly limit: number
  ) {}

  get layers(): readonly LayerSpan[] {
    return (this.req as TimedRequest)[kSpans] ?? NO_SPANS
  }

  private push(mark: Mark): boolean {
    if (this.entries.length >= this.limit) {
      this.dropped++
      return false
    }
    this.entries.push(mark)
    return true
  }

  start(name: string, desc?: string): void {
    checkName(name, 'start')
    checkDesc(desc, 'start')
    if (this.push(new Mark(name, desc, performance.now(), undefined))) this.open++
  }

  end(name: string): number | undefined {
    checkName(name, 'end')
    const now = performance.now()
    const { entries } = this
    for (let i = entries.length - 1; i >= 0; i--) {
      const mark = entries[i] as Mark
      if (mark.name === name && mark.dur === undefined && mark.start !== undefined) {
        return this.close(mark, now)
      }
    }
    return undefined
  }

  add(name: string, metric?: MetricInit): void {
    checkName(name, 'add')
    checkMetric(metric)
    this.push(new Mark(name, metric?.desc, undefined, metric?.dur))
  }

  measure<T>(name: string, fn: () => T, desc?: string): T {
    checkName(name, 'measure')
    checkDesc(desc, 'measure')
    if (typeof fn !== 'function') {
      throw new TypeError(`[@shallot/timing] measure: fn must be a function, got ${describe(fn)}`)
    }
    const mark = new Mark(name, desc, performance.now(), undefined)
    if (!this.push(mark)) return fn()
    this.open++
    let result: T
    try {
      result = fn()
    } catch (err) {
      this.close(mark, performance.now())
      throw err
    }
    if (isThenable(result)) {
      const done = (): void => {
        this.close(mark, performance.now())
      }
      result.then(done, done)
    } else {
      this.close(mark, performance.now())
    }
    return result
  }

  /** Ends an open mark at `now`; a mark already ended (e.g. at head time) keeps its duration. */
  close(mark: Mark, now: number): number {
    if (mark.dur === undefined && mark.start !== undefined) {
      mark.dur = now - mark.start
      this.open--
    }
    return mark.dur as number
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  )
}

/** Used when no serverTiming() layer records for the request: validates, then does nothing. */
const NOOP: Timing = Object.freeze({
  active: false,
  start(name: string, desc?: string): void {
    checkName(name, 'start')
    checkDesc(desc, 'start')
  },
  end(name: string): undefined {
    checkName(name, 'end')
    return undefined
  },
  add(name: string, metric?: MetricInit): void {
    checkName(name, 'add')
    checkMetric(metric)
  },
  measure<T>(name: string, fn: () => T, desc?: string): T {
    checkName(name, 'measure')
    checkDesc(desc, 'measure')
    if (typeof fn !== 'function') {
      throw new TypeError(`[@shallot/timing] measure: fn must be a function, got ${describe(fn)}`)
    }
    return fn()
  },
  entries: Object.freeze([]) as readonly TimingEntry[],
  dropped: 0,
  layers: NO_SPANS,
})

/**
 * The timing recorder of this request: add marks from any layer inside `serverTiming()` (or
 * `timing()`), or from the application.
 *
 * Without such a layer in front it returns a recorder that validates its arguments and
 * records nothing (`active` is `false`), so instrumented code runs unchanged anywhere.
 *
 * @example
 * ```ts
 * const t = getTiming(req)
 * t.start('db', 'users query')
 * const rows = await db.query('select ...')
 * t.end('db')
 * t.add('cache', { desc: 'miss' })
 * const html = await t.measure('render', () => render(rows))
 * ```
 */
export function getTiming(req: IncomingMessage): Timing {
  return (req as TimedRequest)[kTiming] ?? NOOP
}

/** @internal */
export function getRecorder(req: IncomingMessage): Recorder | undefined {
  return (req as TimedRequest)[kTiming]
}

/** @internal */
export function setRecorder(req: IncomingMessage, recorder: Recorder): void {
  ;(req as TimedRequest)[kTiming] = recorder
}

/** @internal The layer spans the tracer recorded on `req`, created on first use. */
export function spansOf(req: IncomingMessage): Span[] {
  const r = req as TimedRequest
  let spans = r[kSpans]
  if (spans === undefined) {
    spans = []
    r[kSpans] = spans
  }
  return spans
}

/** @internal The layer spans, or undefined when the tracer saw nothing for this request. */
export function peekSpans(req: IncomingMessage): readonly Span[] | undefined {
  return (req as TimedRequest)[kSpans]
}
