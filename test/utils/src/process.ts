import { type ChildProcess, spawn } from 'node:child_process'

/** How a child process ended. */
export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Options of {@link GroupProcess.waitFor}. */
export interface WaitOptions {
  /** Default: the process's `defaultStream`. */
  stream?: 'stdout' | 'stderr'
  /** The first line to look at (`p.stderr.length` before an action: only newer lines). */
  from?: number
  /** Default 10 s. */
  ms?: number
}

/** A child process in its own process group, its output kept line by line. */
export interface GroupProcess {
  name: string
  child: ChildProcess
  pid: number
  stdout: string[]
  stderr: string[]
  /** Settles once the process has exited and its last output has arrived. */
  exited: Promise<Exit>
  /**
   * Resolves with the first line (from line `from` on) that matches; rejects after `ms` or
   * when the process exits first, with its output in the message.
   */
  waitFor(re: RegExp, options?: WaitOptions): Promise<RegExpMatchArray>
  /** The last lines of both streams, for failure messages. */
  output(): string
  /** Sends a signal to the whole group (its workers too, even after the leader is gone). */
  signalGroup(signal: NodeJS.Signals): void
}

/**
 * Spawns `command args` detached, in a process group of its own, so that killing the group
 * ends whatever it forked (cluster workers, nginx workers). Its stdout and stderr are split
 * into lines as they arrive.
 */
export function spawnGroup(
  name: string,
  command: string,
  args: readonly string[],
  options: {
    cwd?: string
    env?: NodeJS.ProcessEnv
    /** The stream `waitFor` reads by default. Default stdout. */
    defaultStream?: 'stdout' | 'stderr'
  } = {}
): GroupProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const l of listeners) l()
  }
  let gone = false
  const collect = (stream: NodeJS.ReadableStream, lines: string[]) => {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      lines.push(...parts)
      notify()
    })
  }
  collect(child.stdout as NodeJS.ReadableStream, stdout)
  collect(child.stderr as NodeJS.ReadableStream, stderr)
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      // Let the last output arrive.
      setTimeout(() => {
        gone = true
        notify()
        resolve({ code, signal })
      }, 50)
    })
  })
  const output = () =>
    `--- ${name} stderr ---\n${stderr.slice(-80).join('\n')}\n--- ${name} stdout ---\n${stdout.slice(-80).join('\n')}`
  const defaultStream = options.defaultStream ?? 'stdout'
  return {
    name,
    child,
    pid: child.pid as number,
    stdout,
    stderr,
    exited,
    output,
    waitFor(re, { stream = defaultStream, from = 0, ms = 10_000 } = {}) {
      const lines = stream === 'stdout' ? stdout : stderr
      return new Promise((resolve, reject) => {
        let seen = from
        const done = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
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
            reject(new Error(`${name} exited before a line matched ${re}\n${output()}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no ${name} line matched ${re} within ${ms} ms\n${output()}`))
        }, ms)
        listeners.add(check)
        check()
      })
    },
    signalGroup(signal) {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, signal)
      } catch {
        // Already gone.
      }
    },
  }
}
