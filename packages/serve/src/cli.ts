#!/usr/bin/env node
/**
 * shallot-serve: serves the request handler a module exports, with workers. Not a public
 * entry point for import: run it (`npx shallot-serve ./app.js`).
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { EXIT_CODES } from './errors.js'
import { serve } from './index.js'
import { displayModule, moduleUrl } from './load.js'
import type { ServeOptions } from './options.js'

const USAGE = `Usage: shallot-serve <module> [options]

Serves the request handler that <module> exports: its default export, or else a
named export "handler" or "app" (a function (req, res), such as a stack(...)(handler)).

Options:
  -p, --port <n>                 port, 0 for any free one (default: $PORT, else 3000)
  -H, --host <address>           address to listen on (default: every interface)
  -w, --workers <n|auto>         worker processes; 0: serve in this process, without
                                 a supervisor; auto: one per CPU (default: 1)
      --keep-alive-timeout <ms>  idle keep-alive connections are closed after (65000)
      --headers-timeout <ms>     time to receive a request's headers (66000)
      --request-timeout <ms>     time to receive a whole request, 0: none (300000)
      --shutdown-timeout <ms>    on SIGTERM/SIGINT, time for requests in flight (25000)
      --max-requests <n>         replace a worker after n requests, 0: never (0)
      --max-requests-jitter <n>  add 0 to n requests to each worker's limit (0)
      --restart-delay <ms>       first back-off before restarting a crashing worker (100)
      --max-restart-delay <ms>   longest back-off (15000)
      --max-restarts <n>         crashes at start in a row before giving up (10)
      --min-uptime <ms>          a worker that dies sooner crashed at start (5000)
      --primary <module>         import <module> in the primary before forking the
                                 workers, e.g. @shallot/monitoring/primary; a path
                                 starts with ./ ../ or /, anything else is a package
                                 (repeatable: run in order)
  -h, --help                     show this help
  -v, --version                  show the version

Signals: SIGTERM/SIGINT shut down gracefully (a second one exits at once);
SIGHUP replaces every worker, loading the module anew.
Exit codes: 0 shut down, 1 workers kept crashing at start, 2 bad arguments,
3 the module (or a --primary module) could not be loaded, 4 could not listen,
128+n forced by signal n.
`

/** CLI flags and the options they set. */
const NUMERIC: Readonly<Record<string, keyof ServeOptions>> = {
  port: 'port',
  'keep-alive-timeout': 'keepAliveTimeout',
  'headers-timeout': 'headersTimeout',
  'request-timeout': 'requestTimeout',
  'shutdown-timeout': 'shutdownTimeout',
  'max-requests': 'maxRequests',
  'max-requests-jitter': 'maxRequestsJitter',
  'restart-delay': 'restartDelay',
  'max-restart-delay': 'maxRestartDelay',
  'max-restarts': 'maxRestarts',
  'min-uptime': 'minUptime',
}

class UsageError extends Error {}

function flagOf(option: string): string {
  if (option === 'workers' || option === 'host' || option === 'primary') return `--${option}`
  for (const [flag, name] of Object.entries(NUMERIC)) if (name === option) return `--${flag}`
  return option
}

interface Parsed {
  help: boolean
  version: boolean
  module?: string
  options: ServeOptions
}

const SPEC: NonNullable<ParseArgsConfig['options']> = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string', short: 'H' },
  workers: { type: 'string', short: 'w' },
  primary: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  ...Object.fromEntries(
    Object.keys(NUMERIC)
      .filter((flag) => flag !== 'port')
      .map((flag) => [flag, { type: 'string' as const }])
  ),
}

function parse(argv: string[]): Parsed {
  let parsed: { values: Record<string, unknown>; positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options: SPEC, allowPositionals: true, strict: true })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const flag = /'(?:-\w, )?(--?[\w-]+)/.exec(e.message)?.[1] ?? ''
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option "${flag}"`)
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(`option "${flag}" needs a value`)
    }
    throw new UsageError(e.message)
  }
  const { values, positionals } = parsed
  const v = values
  const options: ServeOptions = { workers: 1 }
  for (const [flag, name] of Object.entries(NUMERIC)) {
    const raw = v[flag]
    if (typeof raw !== 'string') continue
    if (name === 'maxRestarts' && /^(inf|infinity)$/i.test(raw)) {
      options.maxRestarts = Number.POSITIVE_INFINITY
    } else if (/^\d{1,15}$/.test(raw)) {
      ;(options as Record<string, unknown>)[name] = Number(raw)
    } else {
      throw new UsageError(
        `option "--${flag}" must be a non-negative integer, got ${JSON.stringify(raw)}`
      )
    }
  }
  if (typeof v.host === 'string') options.host = v.host
  if (Array.isArray(v.primary)) options.primary = v.primary as string[]
  if (typeof v.workers === 'string') {
    if (v.workers === 'auto') options.workers = 'auto'
    else if (/^\d{1,4}$/.test(v.workers)) options.workers = Number(v.workers)
    else {
      throw new UsageError(
        `option "--workers" must be a non-negative integer or "auto", got ${JSON.stringify(v.workers)}`
      )
    }
  }
  if (positionals.length > 1) {
    throw new UsageError(`one module to serve, got ${positionals.length}: ${positionals.join(' ')}`)
  }
  const result: Parsed = {
    help: v.help === true,
    version: v.version === true,
    options,
  }
  if (positionals[0] !== undefined) result.module = positionals[0]
  return result
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

function usageError(message: string): number {
  process.stderr.write(`[@shallot/serve] ${message}\nRun "shallot-serve --help" for usage.\n`)
  return EXIT_CODES.usage
}

/** Runs the CLI; resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>
  try {
    args = parse(argv)
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message)
    throw err
  }
  if (args.help) {
    process.stdout.write(USAGE)
    return EXIT_CODES.ok
  }
  if (args.version) {
    process.stdout.write(`${version()}\n`)
    return EXIT_CODES.ok
  }
  if (args.module === undefined) return usageError('missing the module to serve')
  const url = moduleUrl(args.module)
  if (!existsSync(fileURLToPath(url))) {
    process.stderr.write(
      `[@shallot/serve] could not load ${displayModule(url)}: no such file (${fileURLToPath(url)})\n`
    )
    return EXIT_CODES.ERR_SERVE_LOAD
  }
  let serving: ReturnType<typeof serve>
  try {
    serving = serve(url, args.options)
  } catch (err) {
    if (err instanceof TypeError && err.message.startsWith('[@shallot/serve] ')) {
      // Name the flag, not the API option: option "maxRequests" -> option "--max-requests".
      const message = err.message
        .slice('[@shallot/serve] '.length)
        .replace(/"(\w+)"/g, (all, name: string) =>
          flagOf(name) === name ? all : `"${flagOf(name)}"`
        )
      return usageError(message)
    }
    throw err
  }
  return serving.closed
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[@shallot/serve] ${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(1)
  }
)
