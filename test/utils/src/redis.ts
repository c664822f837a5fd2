import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The first port of the range the OS picks from for `listen(0)` and outgoing connections. */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]
    )
    return Number.isInteger(low) && low > 10_100 ? low : 32_768
  } catch {
    return 32_768
  }
}

/** Whether `port` can be listened on at 127.0.0.1 right now. */
async function canListen(port: number): Promise<boolean> {
  const server = createServer()
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => resolve(true))
  })
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()))
  return ok
}

/**
 * A free TCP port on 127.0.0.1 for a server another process will start. It is taken below
 * the OS's ephemeral range: between this check and that process's listen, no other test's
 * `listen(0)` or outgoing connection can take it, which a port from `listen(0)` cannot
 * promise when tests run in parallel.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow()
  for (let i = 0; i < 100; i++) {
    const port = 10_000 + Math.floor(Math.random() * (high - 10_000))
    if (await canListen(port)) return port
  }
  throw new Error(`[test-utils] freePort: no free port found in 10000-${high - 1}`)
}

/** Resolves once the server at `port` answers PING with PONG, or rejects after `ms`. */
async function waitForPong(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      let reply = ''
      socket.setTimeout(500, () => {
        socket.destroy()
        resolve(false)
      })
      socket.on('connect', () => socket.write('PING\r\n'))
      socket.on('data', (chunk) => {
        reply += chunk.toString()
        if (reply.includes('\r\n')) {
          socket.destroy()
          resolve(reply.startsWith('+PONG'))
        }
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PONG`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * A real redis-server (Debian's `redis-server`) for one test file, on a free port, with
 * append-only persistence fsynced on every write (so an acknowledged write survives
 * `kill -9`), in a temporary directory.
 */
export class RedisServer {
  private process: ChildProcess | undefined

  private constructor(
    readonly port: number,
    readonly dir: string
  ) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'shallot-redis-')))
    await server.spawn()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  private async spawn(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' }
    )
    this.process = child
    const exited = once(child, 'exit').then(() => {
      throw new Error(`redis-server on port ${this.port} exited at start-up`)
    })
    exited.catch(() => {})
    await Promise.race([waitForPong(this.port), exited])
  }

  /** Kills the server (SIGKILL by default: no shutdown save) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.process
    this.process = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill(signal)
    await exited
  }

  /** Starts it again on the same port and data directory. */
  async restart(): Promise<void> {
    await this.kill()
    await this.spawn()
  }

  /** Kills the server and removes its data. */
  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
