import { describe, expect, it } from 'vitest'
import { cli, exitWithin, fixture, get, pidOf, type Reply, rawConnection } from './helpers.js'

const APP = fixture('app.mjs')
const BASE = ['--port', '0', '--host', '127.0.0.1']

/** The pids that answer `n` requests, each on a new connection. */
async function pidsOf(port: number, n: number): Promise<Set<number>> {
  const pids = new Set<number>()
  for (let i = 0; i < n; i++) pids.add(pidOf(await get(port, '/pid')))
  return pids
}

describe('shallot-serve: workers', () => {
  it('should print the ready line once every worker listens, all of them on one port (port 0)', async () => {
    const r = cli([APP, ...BASE, '--workers', '2'])
    const port = await r.ready()
    expect(port).toBeGreaterThan(0)
    expect(r.stderr.join('\n')).toMatch(
      new RegExp(
        `listening on http://127\\.0\\.0\\.1:${port} \\(2 workers, primary pid ${r.pid}\\)`
      )
    )
    // The workers' own lines come first: both listened before the ready line.
    const readyAt = r.stderr.findIndex((l) => l.includes('listening on http://'))
    expect(r.stderr.slice(0, readyAt).filter((l) => / listening$/.test(l))).toHaveLength(2)
    // cluster's round-robin on the one port the primary bound: both workers answer there.
    const pids = await pidsOf(port, 10)
    expect(pids.size).toBe(2)
    expect(pids.has(r.pid)).toBe(false)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should keep serving while a worker is SIGKILLed under load, and bring a new one back', async () => {
    const r = cli([APP, ...BASE, '--workers', '2', '--min-uptime', '100'])
    const port = await r.ready()

    interface Outcome {
      startedAt: number
      ok: boolean
      pid?: number
      error?: string
    }
    const outcomes: Outcome[] = []
    let stop = false
    const CONCURRENCY = 6
    const loop = async () => {
      while (!stop) {
        const startedAt = performance.now()
        try {
          // A little work, so that requests are in flight when the worker dies.
          const reply: Reply = await get(port, '/pid?ms=10', 3000)
          outcomes.push({ startedAt, ok: reply.status === 200, pid: pidOf(reply) })
        } catch (err) {
          outcomes.push({ startedAt, ok: false, error: (err as Error).message })
        }
      }
    }
    const loops = Array.from({ length: CONCURRENCY }, loop)
    try {
      const until = async (what: string, ok: () => boolean) => {
        for (let i = 0; i < 400 && !ok(); i++) await new Promise((res) => setTimeout(res, 25))
        if (!ok()) throw new Error(`${what}\n${r.output()}`)
      }
      await until('no successful requests', () => outcomes.filter((o) => o.ok).length >= 40)
      const before = new Set(outcomes.filter((o) => o.ok).map((o) => o.pid))
      expect(before.size).toBe(2)
      const victim = [...before][0] as number
      const mark = r.stderr.length
      process.kill(victim, 'SIGKILL')

      // The primary logs the death once cluster no longer routes connections to the worker.
      await r.waitFor(
        new RegExp(`\\(pid ${victim}\\) was killed by SIGKILL after .*; restarting it$`),
        { from: mark }
      )
      const deathSeenAt = performance.now()
      const back = await r.waitFor(/worker \d \(pid (\d+)\) listening$/, { from: mark })
      const newPid = Number(back[1])
      expect(newPid).not.toBe(victim)
      const backAt = performance.now()
      await until('the new worker answered no request', () =>
        outcomes.some((o) => o.ok && o.pid === newPid && o.startedAt > backAt)
      )
      await until(
        'too few requests after the restart',
        () => outcomes.filter((o) => o.startedAt > backAt).length >= 40
      )
      stop = true
      await Promise.all(loops)

      // Only requests under way when the worker died may fail: those in flight on its
      // connections (reset), and connections that cluster's round-robin handed to it in the
      // few ms before the primary noticed the death (these hang until the client's timeout;
      // see the README). Every request started after the primary reported the death succeeds.
      const failed = outcomes.filter((o) => !o.ok)
      for (const f of failed) expect(f.startedAt, JSON.stringify(f)).toBeLessThan(deathSeenAt)
      const after = outcomes.filter((o) => o.startedAt > deathSeenAt)
      expect(after.every((o) => o.ok)).toBe(true)
      expect(after.some((o) => o.pid === victim)).toBe(false)
      // The count is restored: two workers answer, the survivor and the new one.
      const lastPids = new Set(outcomes.filter((o) => o.startedAt > backAt).map((o) => o.pid))
      expect(lastPids).toEqual(new Set([...before].filter((p) => p !== victim).concat(newPid)))
      expect(outcomes.filter((o) => o.ok).length).toBeGreaterThan(80)
    } finally {
      stop = true
      await Promise.all(loops)
    }
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should restart the only worker on the same port, with port 0', async () => {
    const r = cli([APP, ...BASE, '--workers', '1', '--min-uptime', '100'])
    const port = await r.ready()
    const first = pidOf(await get(port, '/pid'))
    const mark = r.stderr.length
    process.kill(first, 'SIGKILL')
    const back = await r.waitFor(/worker 1 \(pid (\d+)\) listening$/, { from: mark })
    const second = Number(back[1])
    expect(second).not.toBe(first)
    // cluster released the port with its last worker: the new one listened on that port
    // again rather than on a new random one.
    expect(pidOf(await get(port, '/pid'))).toBe(second)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should set the default timeouts on every worker server', async () => {
    const r = cli([APP, ...BASE, '--workers', '2'])
    const port = await r.ready()
    const seen = new Set<number>()
    for (let i = 0; i < 6; i++) {
      const reply = await get(port, '/timeouts')
      const t = JSON.parse(reply.body) as Record<string, number>
      seen.add(t.pid as number)
      expect(t).toMatchObject({
        keepAliveTimeout: 65_000,
        headersTimeout: 66_000,
        requestTimeout: 300_000,
      })
    }
    expect(seen.size).toBe(2)
    // Node announces the keep-alive timeout on kept-alive connections.
    const conn = await rawConnection(port)
    conn.socket.write('GET /pid HTTP/1.1\r\nHost: x\r\n\r\n')
    await conn.waitFor(/pid \d+$/)
    expect(conn.received()).toMatch(/\r\nKeep-Alive: timeout=65\r\n/)
    conn.socket.destroy()
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should set the timeouts given as flags, and enforce them', async () => {
    const r = cli([
      APP,
      ...BASE,
      '--workers',
      '1',
      '--keep-alive-timeout',
      '300',
      '--headers-timeout',
      '800',
      '--request-timeout',
      '5000',
    ])
    const port = await r.ready()
    const t = JSON.parse((await get(port, '/timeouts')).body) as Record<string, number>
    expect(t).toMatchObject({ keepAliveTimeout: 300, headersTimeout: 800, requestTimeout: 5000 })

    // An idle keep-alive connection is closed by the server.
    const idle = await rawConnection(port)
    idle.socket.write('GET /pid HTTP/1.1\r\nHost: x\r\n\r\n')
    await idle.waitFor(/pid \d+$/)
    await idle.closed(5000)

    // Headers that never end get a 408.
    const slow = await rawConnection(port)
    slow.socket.write('GET /pid HTTP/1.1\r\nHost: x\r\n')
    await slow.waitFor(/^HTTP\/1\.1 408 /, 5000)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should answer 500 when the handler throws or rejects, without losing the worker', async () => {
    const r = cli([APP, ...BASE, '--workers', '1'])
    const port = await r.ready()
    const pid = pidOf(await get(port, '/pid'))
    expect((await get(port, '/throw')).status).toBe(500)
    expect((await get(port, '/reject')).status).toBe(500)
    expect(pidOf(await get(port, '/pid'))).toBe(pid)
    await r.waitFor(
      new RegExp(
        `worker 1 \\(pid ${pid}\\): unhandled error in the request handler: Error: thrown by the handler`
      )
    )
    await r.waitFor(/unhandled error in the request handler: Error: rejected by the handler/)
    expect(r.stderr.join('\n')).not.toMatch(/restarting/)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })
})
