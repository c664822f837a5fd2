import { describe, expect, it } from 'vitest'
import { cli, exitWithin, fixture, get, type Running, rawConnection } from './helpers.js'

const APP = fixture('app.mjs')
const BASE = ['--port', '0', '--host', '127.0.0.1']

/** Starts `n` slow requests and resolves once the application has received all of them. */
async function slowRequests(r: Running, port: number, n: number, ms: number) {
  const from = r.stdout.length
  const replies = Array.from({ length: n }, (_, i) => get(port, `/slow?ms=${ms}&id=${i}`, 20_000))
  // Keep failures observable without unhandled rejections.
  const settled = replies.map((p) =>
    p.then(
      (reply) => ({ ok: true as const, reply }),
      (err: unknown) => ({ ok: false as const, error: (err as Error).message })
    )
  )
  for (let i = 0; i < n; i++) {
    await r.waitFor(new RegExp(`^slow-start \\d+ ${i}$`), { stream: 'stdout', from })
  }
  return settled
}

describe('shallot-serve: graceful shutdown', () => {
  it('should let requests in flight finish on SIGTERM, then exit 0', async () => {
    const r = cli([APP, ...BASE, '--workers', '2'])
    const port = await r.ready()
    const inFlight = await slowRequests(r, port, 4, 600)
    r.signal('SIGTERM')
    const results = await Promise.all(inFlight)
    for (const [i, result] of results.entries()) {
      expect(result.ok, JSON.stringify(result)).toBe(true)
      if (result.ok) {
        expect(result.reply.status).toBe(200)
        expect(result.reply.body).toMatch(new RegExp(`done ${i}$`))
      }
    }
    expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
    const log = r.stderr.join('\n')
    expect(log).toMatch(
      /SIGTERM: shutting down gracefully \(requests in flight get up to 25000 ms; SIGTERM again to force\)/
    )
    expect(log).toMatch(/stopped \(exit code 0\)$/)
    expect(log).not.toMatch(/restarting/)
  })

  it('should do the same on a Ctrl-C that reaches the primary and its workers (SIGINT to the group)', async () => {
    const r = cli([APP, ...BASE, '--workers', '2'])
    const port = await r.ready()
    const inFlight = await slowRequests(r, port, 2, 600)
    r.signalGroup('SIGINT')
    for (const result of await Promise.all(inFlight)) {
      expect(result.ok, JSON.stringify(result)).toBe(true)
    }
    expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
    expect(r.stderr.join('\n')).toMatch(/SIGINT: shutting down gracefully/)
  })

  it('should close idle keep-alive connections at once, and busy ones after their response', async () => {
    const r = cli([APP, ...BASE, '--workers', '1'])
    const port = await r.ready()
    const idle = await rawConnection(port)
    idle.socket.write('GET /pid HTTP/1.1\r\nHost: x\r\n\r\n')
    await idle.waitFor(/pid \d+$/)
    expect(idle.received()).toMatch(/Connection: keep-alive/)

    const busy = await rawConnection(port)
    const from = r.stdout.length
    busy.socket.write('GET /slow?ms=800&id=busy HTTP/1.1\r\nHost: x\r\n\r\n')
    await r.waitFor(/^slow-start \d+ busy$/, { stream: 'stdout', from })

    r.signal('SIGTERM')
    // keepAliveTimeout is 65 s: only the shutdown closes it this soon.
    await idle.closed(5000)
    await busy.waitFor(/done busy$/)
    // The response in flight tells the client the connection ends with it.
    expect(busy.received()).toMatch(/\r\nConnection: close\r\n/)
    await busy.closed(5000)
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should exit at once, with 128 + the signal number, on a second signal', async () => {
    const r = cli([APP, ...BASE, '--workers', '1'])
    const port = await r.ready()
    const [pending] = await slowRequests(r, port, 1, 60_000)
    const from = r.stderr.length
    r.signal('SIGTERM')
    await r.waitFor(/SIGTERM: shutting down gracefully/, { from })
    r.signal('SIGTERM')
    expect(await exitWithin(r, 10_000)).toEqual({ code: 143, signal: null })
    expect(r.stderr.join('\n')).toMatch(/SIGTERM again: killed the workers \(exit code 143\)/)
    const result = await pending
    expect(result?.ok).toBe(false)
  })

  it('should cut requests still in flight after --shutdown-timeout, and still exit 0', async () => {
    const r = cli([APP, ...BASE, '--workers', '1', '--shutdown-timeout', '300'])
    const port = await r.ready()
    const [pending] = await slowRequests(r, port, 1, 60_000)
    r.signal('SIGTERM')
    expect(await exitWithin(r, 10_000)).toEqual({ code: 0, signal: null })
    const result = await pending
    expect(result?.ok).toBe(false)
    expect(r.stderr.join('\n')).toMatch(
      /worker 1 \(pid \d+\): shutdownTimeout \(300 ms\) reached, 1 request\(s\) in flight were cut/
    )
  })

  it('should shut down gracefully in a single process too (--workers 0)', async () => {
    const r = cli([APP, ...BASE, '--workers', '0'])
    const port = await r.ready()
    expect(r.stderr.join('\n')).toMatch(
      new RegExp(`listening on http://127\\.0\\.0\\.1:${port} \\(single process, pid ${r.pid}\\)`)
    )
    const inFlight = await slowRequests(r, port, 2, 500)
    r.signal('SIGTERM')
    for (const result of await Promise.all(inFlight)) {
      expect(result.ok, JSON.stringify(result)).toBe(true)
      if (result.ok) expect(result.reply.body).toMatch(new RegExp(`^pid ${r.pid} done`))
    }
    expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
  })
})
