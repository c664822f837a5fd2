/**
 * A readiness check: resolves when the dependency is usable, rejects (or throws) when it is
 * not. It receives an AbortSignal that aborts when its time is up, so it can cancel its
 * work (`fetch(url, { signal })`); a check that ignores it is cut by the timeout anyway.
 */
export type ReadinessCheck = (signal: AbortSignal) => unknown

/** The outcome of one check, as `/readyz` reports it. */
export type CheckResult = { status: 'ok' } | { status: 'fail'; reason: 'timeout' | 'error' }

/** The `/readyz` document. */
export interface Readiness {
  status: 'ok' | 'fail'
  checks: Record<string, CheckResult>
}

const OK: CheckResult = Object.freeze({ status: 'ok' })
const TIMEOUT: CheckResult = Object.freeze({ status: 'fail', reason: 'timeout' })
const ERROR: CheckResult = Object.freeze({ status: 'fail', reason: 'error' })

function runOne(check: ReadinessCheck, timeout: number): Promise<CheckResult> {
  const controller = new AbortController()
  return new Promise<CheckResult>((resolve) => {
    const timer = setTimeout(() => {
      controller.abort(new Error(`readiness check timed out after ${timeout} ms`))
      resolve(TIMEOUT)
    }, timeout)
    timer.unref()
    const settle = (result: CheckResult): void => {
      clearTimeout(timer)
      resolve(result)
    }
    try {
      Promise.resolve(check(controller.signal)).then(
        () => settle(OK),
        () => settle(ERROR)
      )
    } catch {
      settle(ERROR)
    }
  })
}

/**
 * Runs named checks concurrently, each cut by `timeout` ms. Probes arriving while a run is
 * in flight share it, so a burst of probes does not multiply the load on the dependencies.
 * @internal
 */
export class ReadinessChecks {
  private running: Promise<Readiness> | undefined

  constructor(
    private readonly checks: readonly (readonly [string, ReadinessCheck])[],
    private readonly timeout: number
  ) {}

  run(): Promise<Readiness> {
    if (this.running !== undefined) return this.running
    const run = this.runAll()
    this.running = run
    const clear = (): void => {
      if (this.running === run) this.running = undefined
    }
    run.then(clear, clear)
    return run
  }

  private async runAll(): Promise<Readiness> {
    const results = await Promise.all(this.checks.map(([, check]) => runOne(check, this.timeout)))
    const checks: Record<string, CheckResult> = {}
    let ok = true
    this.checks.forEach(([name], i) => {
      const result = results[i] as CheckResult
      checks[name] = result
      if (result.status !== 'ok') ok = false
    })
    return { status: ok ? 'ok' : 'fail', checks }
  }
}
