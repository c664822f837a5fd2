import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { type IncomingHttpHeaders, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach } from 'vitest'

/** The built CLI: turbo builds the package before its tests run. */
export const CLI: string = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
export const FIXTURES: string = fileURLToPath(new URL('./fixtures/', import.meta.url))

export function fixture(name: string): string {
  return `${FIXTURES}${name}`
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A running CLI (or fixture script), its output read line by line. */
export interface Running {
  child: ChildProcess
  pid: number
  /** Lines written to stderr so far (the server's own lines). */
  stderr: string[]
  /** Lines written to stdout so far (the fixture application's). */
  stdout: string[]
  exited: Promise<Exit>
  /**
   * Resolves with the match once a stderr (or stdout) line from line `from` on matches;
   * rejects after `ms` or when the process exits first.
   */
  waitFor(re: RegExp, options?: WaitOptions): Promise<RegExpMatchArray>
  /** Waits for the ready line and returns the port it names. */
  ready(ms?: number): Promise<number>
  /** Sends a signal to the primary only. */
  signal(signal: NodeJS.Signals): void
  /** Sends a signal to the whole process group, as a terminal's Ctrl-C does. */
  signalGroup(signal: NodeJS.Signals): void
  /** Everything written so far, for failure messages. */
  output(): string
}

export interface WaitOptions {
  /** Default 10 s. */
  ms?: number
  /** Default stderr, where the server writes its lines. */
  stream?: 'stderr' | 'stdout'
  /** The first line to look at (`r.stderr.length` before an action: only newer lines). */
  from?: number
}

const running = new Set<Running>()

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

// Every process a test started is killed after it, even when it failed: the CLI runs in its
// own process group (detached), which holds its workers, and the whole group is killed.
afterEach(async () => {
  const left = [...running]
  running.clear()
  for (const r of left) killGroup(r.pid)
  await Promise.all(
    left.map((r) => Promise.race([r.exited, new Promise((resolve) => setTimeout(resolve, 2000))]))
  )
})
process.once('exit', () => {
  for (const r of running) killGroup(r.pid)
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
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd ?? FIXTURES,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stderr: string[] = []
  const stdout: string[] = []
  const waiters = new Set<() => void>()
  const collect = (stream: NodeJS.ReadableStream, lines: string[]) => {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      lines.push(...parts)
      for (const w of waiters) w()
    })
  }
  collect(child.stdout as NodeJS.ReadableStream, stdout)
  collect(child.stderr as NodeJS.ReadableStream, stderr)
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      // Let the last output arrive.
      setTimeout(() => {
        for (const w of waiters) w()
        resolve({ code, signal })
      }, 50)
    })
  })
  let gone = false
  void exited.then(() => {
    gone = true
    for (const w of waiters) w()
  })
  const output = () => `--- stderr ---\n${stderr.join('\n')}\n--- stdout ---\n${stdout.join('\n')}`
  const r: Running = {
    child,
    pid: child.pid as number,
    stderr,
    stdout,
    exited,
    output,
    waitFor(re, { ms = 10_000, stream = 'stderr', from = 0 } = {}) {
      const lines = stream === 'stderr' ? stderr : stdout
      return new Promise((resolve, reject) => {
        let seen = from
        const check = () => {
          for (; seen < lines.length; seen++) {
            const m = (lines[seen] as string).match(re)
            if (m !== null) {
              done()
              resolve(m)
              return
            }
          }
          if (gone) {
            done()
            reject(new Error(`exited before a line matched ${re}\n${output()}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no line matched ${re} within ${ms} ms\n${output()}`))
        }, ms)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    async ready(ms = 15_000) {
      const m = await r.waitFor(/listening on http:\/\/[^ ]+:(\d+) \(/, { ms })
      return Number(m[1])
    },
    signal(signal) {
      child.kill(signal)
    },
    signalGroup(signal) {
      process.kill(-(child.pid as number), signal)
    },
  }
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
