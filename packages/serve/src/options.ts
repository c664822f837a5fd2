import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** Longest delay `setTimeout` accepts (about 24.8 days). */
const MAX_MS = 2_147_483_647

/**
 * Code that runs in the primary, once, before it forks the workers: a module (a path, a `file:`
 * URL, or a package specifier such as `'@shallot/monitoring/primary'`) that is imported there,
 * or a function that is called there. See {@link ServeOptions.primary}.
 */
export type PrimaryHook = string | URL | (() => unknown)

/** Options of {@link serve}. Every one is checked when `serve()` is called. */
export interface ServeOptions {
  /**
   * The TCP port to listen on, from 0 to 65535. `0` lets the system pick a free port: the
   * actual port is in the ready line, `ready` and `address`. With workers, every worker
   * listens on that one port (see the README about port 0 and restarts).
   *
   * @default the `PORT` environment variable if set, else 3000
   */
  port?: number
  /**
   * The address to listen on: an IP address (`'127.0.0.1'`, `'::1'`) or a host name
   * (`'localhost'`).
   *
   * @default every interface (`::`, or `0.0.0.0` without IPv6), as `server.listen(port)` does
   */
  host?: string
  /**
   * How many worker processes to run through `node:cluster`, or `'auto'` for one per CPU
   * (`os.availableParallelism()`). `0` serves in this process, with no supervisor: no restarts,
   * no recycling. From 1, this process becomes the primary: it forks the workers, restarts those
   * that die, and replaces them after `maxRequests`. The CLI's default is 1.
   *
   * @default 0
   */
  workers?: number | 'auto'
  /**
   * Code to run in the primary process, once, before it forks the workers (the CLI's
   * `--primary`, repeatable): what needs the primary, such as `@shallot/monitoring`'s
   * `setupClusterPrimary()` for cluster-wide `/metrics`. Each hook is one of:
   *
   * - a module: a path (`'./primary.js'`, resolved against the working directory; it must
   *   start with `./`, `../` or `/`), a `file:` URL, or a package specifier
   *   (`'@shallot/monitoring/primary'`, resolved from the working directory as
   *   `require.resolve` does). It is imported; its top-level code (and top-level `await`)
   *   is the hook, its exports are ignored;
   * - a function, called with no argument and awaited.
   *
   * Several hooks run one after the other, in order, and the workers are forked once all of
   * them are done. One that throws, rejects, cannot be loaded or can never finish stops the
   * server before any worker starts: `ready` rejects with a `ServeError` `ERR_SERVE_LOAD`,
   * exit code 3. Never run in the workers (a worker that re-runs the program skips it).
   * Needs `workers` >= 1: with `workers: 0` there is no primary, and the option is refused.
   *
   * @default none
   */
  primary?: PrimaryHook | readonly PrimaryHook[]
  /**
   * How long (ms) an idle keep-alive connection is kept open, waiting for its next request
   * (`server.keepAliveTimeout`). Above the 60 s idle timeout of nginx's upstream keep-alive and
   * of AWS/GCP load balancers, so a proxy never reuses a connection the server is closing.
   * `0` keeps idle connections open until the client closes them.
   *
   * @default 65000
   */
  keepAliveTimeout?: number
  /**
   * How long (ms) a client may take to send a request's headers (`server.headersTimeout`),
   * then it gets a 408. Must be greater than `keepAliveTimeout`, as Node's documentation asks.
   *
   * @default the greater of 66000 and keepAliveTimeout + 1000
   */
  headersTimeout?: number
  /**
   * How long (ms) a client may take to send a whole request, headers and body
   * (`server.requestTimeout`), then it gets a 408. `0` for no limit. Not a limit on the
   * handler: a slow response is never cut.
   *
   * @default the greater of 300000 (Node's default) and headersTimeout
   */
  requestTimeout?: number
  /**
   * On SIGTERM/SIGINT or `close()`, how long (ms) requests in flight may take to finish before
   * their connections are cut and the process exits anyway.
   *
   * @default 25000 (below the 30 s Kubernetes waits before its SIGKILL)
   */
  shutdownTimeout?: number
  /**
   * Replace a worker after it has served this many requests (Gunicorn's `max_requests`), to
   * bound slow leaks. The replacement is started first and the old worker finishes what it
   * is serving, so no request is dropped. `0` never replaces. Needs `workers` >= 1.
   *
   * @default 0
   */
  maxRequests?: number
  /**
   * Add a random 0 to `maxRequestsJitter` requests (inclusive) to each worker's
   * `maxRequests`, so workers started together are not all replaced at once (Gunicorn's
   * `max_requests_jitter`). Needs `maxRequests`.
   *
   * @default 0
   */
  maxRequestsJitter?: number
  /**
   * The back-off (ms) before restarting a worker that crashed at start: doubled at each crash
   * in a row, up to `maxRestartDelay`. A worker that ran for `minUptime` or more is restarted
   * at once and resets the count.
   *
   * @default 100
   */
  restartDelay?: number
  /**
   * The longest back-off (ms) between two restarts.
   *
   * @default the greater of 15000 and restartDelay
   */
  maxRestartDelay?: number
  /**
   * How many workers may crash at start in a row (each restarted after its back-off); the
   * next such crash stops the server with exit code 1. `Infinity` never gives up.
   *
   * @default 10
   */
  maxRestarts?: number
  /**
   * How long (ms) a worker must run after it starts listening for its death not to count as
   * a crash at start. A worker that dies before listening always counts.
   *
   * @default 5000
   */
  minUptime?: number
  /**
   * Handle SIGTERM and SIGINT: a graceful shutdown, then `process.exit()`; a second signal
   * exits at once. With workers, SIGHUP replaces every worker (new code is loaded). `false`
   * installs no listener: call `close()` yourself.
   *
   * @default true
   */
  signals?: boolean
  /**
   * Where the server's own lines go (ready, restarts, shutdown, errors that escaped the
   * handler): a function that receives each line, or `false` for none. Workers that import a
   * module write theirs to stderr; those of a re-run program use its `log`.
   *
   * @default each line to stderr, prefixed with `[@shallot/serve] `
   */
  log?: false | ((line: string) => void)
}

/** @internal Options after validation, with defaults. */
export interface ResolvedOptions {
  port: number
  host: string | undefined
  workers: number
  keepAliveTimeout: number
  headersTimeout: number
  requestTimeout: number
  shutdownTimeout: number
  maxRequests: number
  maxRequestsJitter: number
  restartDelay: number
  maxRestartDelay: number
  maxRestarts: number
  minUptime: number
  signals: boolean
  log: (line: string) => void
  primary: readonly ResolvedHook[]
}

/**
 * @internal A primary hook after validation: a function, a module by `file:` URL, or a package
 * specifier to resolve from `cwd` when the hook runs (a failure then is a load error, exit 3).
 */
export type ResolvedHook =
  | { kind: 'function'; fn: () => unknown }
  | { kind: 'url'; url: string }
  | { kind: 'package'; specifier: string; cwd: string }

const KNOWN: readonly string[] = [
  'port',
  'host',
  'workers',
  'keepAliveTimeout',
  'headersTimeout',
  'requestTimeout',
  'shutdownTimeout',
  'maxRequests',
  'maxRequestsJitter',
  'restartDelay',
  'maxRestartDelay',
  'maxRestarts',
  'minUptime',
  'signals',
  'log',
  'primary',
]

/** The peers' names (Gunicorn, pm2, throng, Fastify) and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  bind: 'use "host" and "port"',
  hostname: 'use "host"',
  address: 'use "host"',
  instances: 'use "workers"',
  count: 'use "workers"',
  timeout: 'use "requestTimeout" for slow clients; a slow handler is never cut',
  keepAlive: 'use "keepAliveTimeout"',
  keepalive: 'use "keepAliveTimeout"',
  gracefulTimeout: 'use "shutdownTimeout"',
  graceful_timeout: 'use "shutdownTimeout"',
  killTimeout: 'use "shutdownTimeout"',
  grace: 'use "shutdownTimeout"',
  max_requests: 'use "maxRequests"',
  max_requests_jitter: 'use "maxRequestsJitter"',
  preload: 'use "primary" for code that must run in the primary; the workers import the module',
  onStarting: 'use "primary"',
  on_starting: 'use "primary"',
  connectionTimeout: 'use "requestTimeout"',
}

/** The start-up error: `[@shallot/serve] option "x" must be ..., got ...`. */
export function badOption(name: string, expectation: string, value: unknown): never {
  throw new TypeError(
    `[@shallot/serve] option "${name}" must be ${expectation}, got ${describe(value)}`
  )
}

/** A short, safe rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : typeof value
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    badOption(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}

function milliseconds(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_MS) {
    badOption(name, `an integer number of milliseconds from ${min} to ${MAX_MS}`, value)
  }
  return value
}

/** A host name (RFC 1123 labels) or an IP address. */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

/** Writes a line to stderr with the package prefix. */
export function stderrLog(line: string): void {
  process.stderr.write(`[@shallot/serve] ${line}\n`)
}

/**
 * @internal Validates `options` once, at start-up, and fills in the defaults. `env` is where
 * `PORT` is read from when `port` is not given.
 */
export function resolveOptions(
  options: ServeOptions | undefined,
  env: NodeJS.ProcessEnv = process.env
): ResolvedOptions {
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new TypeError(
        `[@shallot/serve] serve(app, options): options must be an object, got ${describe(options)}`
      )
    }
    for (const key of Object.keys(options)) {
      if (!KNOWN.includes(key)) {
        throw new TypeError(
          `[@shallot/serve] unknown option "${key}" (${HINTS[key] ?? `known: ${KNOWN.join(', ')}`})`
        )
      }
    }
  }
  const o: ServeOptions = options ?? {}

  let port: number
  if (o.port !== undefined) {
    port = integer('port', o.port, 0, 65535, 0)
  } else if (env.PORT !== undefined && env.PORT !== '') {
    if (!/^\d{1,5}$/.test(env.PORT) || Number(env.PORT) > 65535) {
      throw new TypeError(
        `[@shallot/serve] environment variable PORT must be an integer from 0 to 65535, got ${describe(env.PORT)}`
      )
    }
    port = Number(env.PORT)
  } else {
    port = 3000
  }

  const host = o.host
  if (host !== undefined) {
    if (typeof host !== 'string' || (isIP(host) === 0 && !HOST_NAME.test(host))) {
      badOption('host', 'an IP address or a host name', host)
    }
  }

  let workers: number
  if (o.workers === 'auto') workers = availableParallelism()
  else if (o.workers === undefined || typeof o.workers === 'number') {
    workers = integer('workers', o.workers, 0, 1024, 0)
  } else {
    badOption('workers', 'an integer from 0 to 1024 or "auto"', o.workers)
  }

  const keepAliveTimeout = milliseconds('keepAliveTimeout', o.keepAliveTimeout, 0, 65_000)
  const headersTimeout = milliseconds(
    'headersTimeout',
    o.headersTimeout,
    1,
    Math.min(MAX_MS, Math.max(66_000, keepAliveTimeout + 1000))
  )
  if (keepAliveTimeout > 0 && headersTimeout <= keepAliveTimeout) {
    badOption(
      'headersTimeout',
      `greater than "keepAliveTimeout" (${keepAliveTimeout})`,
      headersTimeout
    )
  }
  const requestTimeout = milliseconds(
    'requestTimeout',
    o.requestTimeout,
    0,
    Math.max(300_000, headersTimeout)
  )
  if (requestTimeout > 0 && requestTimeout < headersTimeout) {
    badOption(
      'requestTimeout',
      `0 (no limit) or at least "headersTimeout" (${headersTimeout})`,
      requestTimeout
    )
  }
  const shutdownTimeout = milliseconds('shutdownTimeout', o.shutdownTimeout, 0, 25_000)

  const maxRequests = integer('maxRequests', o.maxRequests, 0, Number.MAX_SAFE_INTEGER, 0)
  if (maxRequests > 0 && workers === 0) {
    badOption(
      'maxRequests',
      '0 when "workers" is 0 (a single process cannot be replaced without dropping requests)',
      maxRequests
    )
  }
  const maxRequestsJitter = integer(
    'maxRequestsJitter',
    o.maxRequestsJitter,
    0,
    Number.MAX_SAFE_INTEGER,
    0
  )
  if (maxRequestsJitter > 0 && maxRequests === 0) {
    badOption('maxRequestsJitter', '0 when "maxRequests" is 0', maxRequestsJitter)
  }

  const restartDelay = milliseconds('restartDelay', o.restartDelay, 0, 100)
  const maxRestartDelay = milliseconds(
    'maxRestartDelay',
    o.maxRestartDelay,
    0,
    Math.max(15_000, restartDelay)
  )
  if (maxRestartDelay < restartDelay) {
    badOption('maxRestartDelay', `at least "restartDelay" (${restartDelay})`, maxRestartDelay)
  }
  const maxRestarts = o.maxRestarts ?? 10
  if (
    maxRestarts !== Number.POSITIVE_INFINITY &&
    (typeof maxRestarts !== 'number' || !Number.isSafeInteger(maxRestarts) || maxRestarts < 0)
  ) {
    badOption('maxRestarts', 'a non-negative integer or Infinity', maxRestarts)
  }
  const minUptime = milliseconds('minUptime', o.minUptime, 0, 5000)

  const signals = o.signals ?? true
  if (typeof signals !== 'boolean') badOption('signals', 'a boolean', signals)

  let log: (line: string) => void = stderrLog
  if (o.log === false) log = () => {}
  else if (typeof o.log === 'function') log = o.log
  else if (o.log !== undefined) badOption('log', 'false or a function (line) => void', o.log)

  const primary = resolveHooks(o.primary, workers)

  return {
    port,
    host,
    workers,
    keepAliveTimeout,
    headersTimeout,
    requestTimeout,
    shutdownTimeout,
    maxRequests,
    maxRequestsJitter,
    restartDelay,
    maxRestartDelay,
    maxRestarts,
    minUptime,
    signals,
    log,
    primary,
  }
}

const HOOK = 'a module path, a file: URL, a package specifier or a function'

/** Checks the `primary` option; paths become file: URLs against the working directory now. */
function resolveHooks(value: ServeOptions['primary'], workers: number): ResolvedHook[] {
  if (value === undefined) return []
  const list: readonly unknown[] = Array.isArray(value) ? value : [value]
  const hooks = list.map((hook): ResolvedHook => {
    if (typeof hook === 'function') return { kind: 'function', fn: hook as () => unknown }
    if (hook instanceof URL) {
      if (hook.protocol !== 'file:') badOption('primary', `${HOOK} (a file: URL)`, hook.href)
      return { kind: 'url', url: hook.href }
    }
    if (typeof hook !== 'string' || hook.trim() === '' || hook.includes('\0')) {
      badOption('primary', HOOK, hook)
    }
    if (hook.startsWith('file:')) {
      let url: URL
      try {
        url = new URL(hook)
      } catch {
        return badOption('primary', `${HOOK} (a valid file: URL)`, hook)
      }
      return { kind: 'url', url: url.href }
    }
    if (isPath(hook)) return { kind: 'url', url: pathToFileURL(resolve(hook)).href }
    return { kind: 'package', specifier: hook, cwd: process.cwd() }
  })
  if (hooks.length > 0 && workers === 0) {
    throw new TypeError(
      `[@shallot/serve] option "primary" needs "workers" of 1 or more: with "workers" 0 there is no primary process, only the one that serves`
    )
  }
  return hooks
}

/** A path rather than a package specifier, as Node's `--import` tells them apart. */
function isPath(spec: string): boolean {
  return (
    spec === '.' ||
    spec === '..' ||
    spec.startsWith('./') ||
    spec.startsWith('../') ||
    spec.startsWith('.\\') ||
    spec.startsWith('..\\') ||
    isAbsolute(spec)
  )
}
