import { existsSync } from 'node:fs'
import { type IncomingHttpHeaders, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { type Exit, type GroupProcess, spawnGroup } from '@shallot/test-utils'
import { afterEach } from 'vitest'

/** The built CLI: turbo builds the package before its tests run. */
export const CLI: string = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
export const FIXTURES: string = fileURLToPath(new URL('./fixtures/', import.meta.url))

export function fixture(name: string): string {
  return `${FIXTURES}${name}`
}

export type { Exit }

/** A running CLI (or fixture script), its output read line by line. */
export interface Running extends GroupProcess {
  /** Waits for the ready line and returns the port it names. */
  ready(ms?: number): Promise<number>
  /** Sends a signal to the primary only. */
  signal(signal: NodeJS.Signals): void
}

const running = new Set<Running>()

// Every process a test started is killed after it, even when it failed: the CLI runs in its
// own process group (detached), which holds its workers, and the whole group is killed.
afterEach(async () => {
  const left = [...running]
  running.clear()
  for (const r of left) r.signalGroup('SIGKILL')
  await Promise.all(
    left.map((r) => Promise.race([r.exited, new Promise((resolve) => setTimeout(resolve, 2000))]))
  )
})
process.once('exit', () => {
  for (const r of running) r.signalGroup('SIGKILL')
})

/** Starts `node <script> ...args` in its own process group. */
export function start(
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}
): Running {
  if (script === CLI && !existsSync(CLI)) {
    throw new Error(
      `${CLI} is missing: build first (pnpm exec turbo run build --filter=@shallot/serve...)`
    )
  }
  const env = { ...process.env, ...options.env }
  // The tests' own PORT must not leak into the CLI unless a test sets it.
  if (options.env?.PORT === undefined) delete env.PORT
  const p = spawnGroup('shallot-serve', process.execPath, [script, ...args], {
    cwd: options.cwd ?? FIXTURES,
    env,
    defaultStream: 'stderr',
  })
  const r: Running = Object.assign(p, {
    async ready(ms = 15_000) {
      const m = await p.waitFor(/listening on http:\/\/[^ ]+:(\d+) \(/, { ms })
      return Number(m[1])
    },
    signal(signal: NodeJS.Signals) {
      p.child.kill(signal)
    },
  })
  running.add(r)
  return r
}

/** Runs the CLI with `args`. */
export function cli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Running {
  return start(CLI, args, options)
}

/** Resolves with the exit, or rejects after `ms`. */
export function exitWithin(r: Running, ms = 15_000): Promise<Exit> {
  return Promise.race([
    r.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running after ${ms} ms\n${r.output()}`)), ms)
    ),
  ])
}

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One request on a new connection (no keep-alive pool); rejects on error or after `ms`. */
export function get(port: number, path = '/', ms = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: ms }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
      res.on('aborted', () => reject(new Error('response aborted')))
    })
    req.on('timeout', () => req.destroy(new Error(`no response within ${ms} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** A raw connection, for keep-alive and timeout checks. */
export function rawConnection(port: number): Promise<{
  socket: Socket
  /** Everything received so far. */
  received(): string
  /** Resolves once the server closed the connection (or rejects after `ms`). */
  closed(ms?: number): Promise<void>
  /** Resolves once what was received matches. */
  waitFor(re: RegExp, ms?: number): Promise<void>
}> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    let isClosed = false
    const listeners = new Set<() => void>()
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => {
      data += c
      for (const l of listeners) l()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      isClosed = true
      for (const l of listeners) l()
    })
    const until = (ok: () => boolean, what: string, ms: number) =>
      new Promise<void>((res, rej) => {
        const check = () => {
          if (ok()) {
            clearTimeout(timer)
            listeners.delete(check)
            res()
          }
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          rej(new Error(`${what} within ${ms} ms; received: ${JSON.stringify(data)}`))
        }, ms)
        listeners.add(check)
        check()
      })
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => data,
        closed: (ms = 10_000) =>
          until(() => isClosed, 'the server did not close the connection', ms),
        waitFor: (re, ms = 10_000) => until(() => re.test(data), `nothing matched ${re}`, ms),
      })
    )
    socket.once('error', reject)
  })
}

/** The pid a fixture app's response names (`pid 123 ...`). */
export function pidOf(reply: Reply): number {
  const m = /pid (\d+)/.exec(reply.body)
  if (m === null) throw new Error(`no pid in ${JSON.stringify(reply.body)}`)
  return Number(m[1])
}
