import { once } from 'node:events'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cli, exitWithin, fixture, get, pidOf, type Running } from './helpers.js'

const APP = fixture('app.mjs')
const BASE = ['--port', '0', '--host', '127.0.0.1']

interface Outcome {
  ok: boolean
  pid?: number
  error?: string
}

/** `concurrency` loops of requests (each on a new connection) until `done()` says so. */
async function load(port: number, concurrency: number, done: () => boolean): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  const deadline = performance.now() + 15_000
  const loop = async () => {
    while (!done() && performance.now() < deadline) {
      try {
        const reply = await get(port, '/pid', 5000)
        outcomes.push({ ok: reply.status === 200, pid: pidOf(reply) })
      } catch (err) {
        outcomes.push({ ok: false, error: (err as Error).message })
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  return outcomes
}

/** The numbers in the lines matching `re` (its first group). */
function numbers(r: Running, re: RegExp): number[] {
  return r.stderr.flatMap((l) => {
    const m = re.exec(l)
    return m === null ? [] : [Number(m[1])]
  })
}

const temps: string[] = []
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('shallot-serve: recycling after maxRequests', () => {
  it('should replace a worker after --max-requests without dropping a request', async () => {
    const r = cli([APP, ...BASE, '--workers', '1', '--max-requests', '20'])
    const port = await r.ready()
    const first = pidOf(await get(port, '/pid'))
    const outcomes = await load(port, 4, () =>
      r.stderr.some((l) => l.includes(`(pid ${first}) stopped`))
    )
    const after = await Promise.all(Array.from({ length: 10 }, () => get(port, '/pid')))

    expect(outcomes.filter((o) => !o.ok)).toEqual([])
    expect(after.every((reply) => reply.status === 200)).toBe(true)
    const log = r.stderr.join('\n')
    expect(log).toMatch(
      new RegExp(`worker 1 \\(pid ${first}\\) listening \\(replaced after 20 requests\\)`)
    )
    expect(log).toMatch(new RegExp(`worker 1 \\(pid ${first}\\) served 20 requests: replacing it`))
    const replacement = Number(
      new RegExp(`worker 1 \\(pid (\\d+)\\) started to replace pid ${first}`).exec(log)?.[1]
    )
    expect(replacement).toBeGreaterThan(0)
    // The replacement listened before the old worker was told to stop: no gap.
    const listenedAt = r.stderr.findIndex((l) => l.includes(`(pid ${replacement}) listening`))
    const stoppedAt = r.stderr.findIndex((l) => l.includes(`(pid ${first}) stopped`))
    expect(listenedAt).toBeGreaterThan(-1)
    expect(stoppedAt).toBeGreaterThan(listenedAt)
    // The old worker answered its 20 requests and more while its replacement started; once
    // it stopped, it answered nothing.
    expect(outcomes.filter((o) => o.pid === first).length).toBeGreaterThanOrEqual(19)
    expect(after.some((reply) => pidOf(reply) === first)).toBe(false)
    expect(log).not.toMatch(/restarting/)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should add 0 to --max-requests-jitter requests to each worker limit', async () => {
    const r = cli([
      APP,
      ...BASE,
      '--workers',
      '3',
      '--max-requests',
      '50',
      '--max-requests-jitter',
      '10',
    ])
    await r.ready()
    const limits = numbers(r, /listening \(replaced after (\d+) requests\)$/)
    expect(limits).toHaveLength(3)
    for (const limit of limits) {
      expect(limit).toBeGreaterThanOrEqual(50)
      expect(limit).toBeLessThanOrEqual(60)
    }
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })

  it('should keep the old worker serving while its replacement fails to load, then retry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shallot-serve-'))
    temps.push(dir)
    const app = join(dir, 'app.mjs')
    copyFileSync(APP, app)
    const r = cli([app, ...BASE, '--workers', '1', '--max-requests', '3', '--restart-delay', '200'])
    const port = await r.ready()
    const first = pidOf(await get(port, '/pid'))
    // The module breaks on disk (a bad deploy); the next worker to load it fails.
    writeFileSync(app, "throw new Error('broken deploy')\n")
    const from = r.stderr.length
    for (let i = 0; i < 3; i++) expect(pidOf(await get(port, '/pid'))).toBe(first)
    await r.waitFor(
      /exited with code 3 before listening: could not load .*app\.mjs: Error: broken deploy/,
      {
        from,
      }
    )
    await r.waitFor(/restarting it in 200 ms \(crash 1 in a row, giving up after 10\)/, { from })
    // Meanwhile the old worker serves on.
    for (let i = 0; i < 5; i++) expect(pidOf(await get(port, '/pid'))).toBe(first)
    // Fixed on disk: the next attempt replaces the old worker.
    copyFileSync(APP, app)
    const stopped = new RegExp(`\\(pid ${first}\\) stopped$`)
    await r.waitFor(stopped, { from, ms: 15_000 })
    expect(pidOf(await get(port, '/pid'))).not.toBe(first)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })
})

describe('shallot-serve: restarts with back-off', () => {
  it('should back off exponentially while a worker crashes at start, then give up with exit 1', async () => {
    const r = cli([
      fixture('crash-soon.mjs'),
      ...BASE,
      '--workers',
      '1',
      '--restart-delay',
      '50',
      '--max-restart-delay',
      '300',
      '--max-restarts',
      '4',
    ])
    expect(await exitWithin(r, 20_000)).toEqual({ code: 1, signal: null })
    // The delays announced: doubled at each crash in a row, capped at --max-restart-delay.
    expect(
      numbers(r, /restarting it in (\d+) ms \(crash \d+ in a row, giving up after 4\)$/)
    ).toEqual([50, 100, 200, 300])
    expect(numbers(r, /\(crash (\d+) in a row/)).toEqual([1, 2, 3, 4])
    const log = r.stderr.join('\n')
    expect(log).toMatch(/exited with code 1 after \d+ ms; restarting it in 50 ms/)
    expect(log).toMatch(
      /giving up: 5 workers in a row crashed within minUptime \(5000 ms\), more than maxRestarts \(4\); stopping \(exit code 1\)/
    )
    // The first start and four restarts.
    expect(r.stderr.filter((l) => / started$/.test(l))).toHaveLength(5)
    // Its stack reached stderr (Node prints the uncaught exception).
    expect(log).toMatch(/Error: crashed soon after start/)
  })

  it('should count a worker that exits during import as a crash at start, and give up', async () => {
    const r = cli([
      fixture('exit-at-import.mjs'),
      ...BASE,
      '--workers',
      '1',
      '--restart-delay',
      '20',
      '--max-restarts',
      '3',
    ])
    expect(await exitWithin(r, 20_000)).toEqual({ code: 1, signal: null })
    const log = r.stderr.join('\n')
    expect(log).toMatch(
      /exited with code 9 before listening; restarting it in 20 ms \(crash 1 in a row/
    )
    expect(numbers(r, /restarting it in (\d+) ms/)).toEqual([20, 40, 80])
    expect(log).toMatch(/giving up: 4 workers in a row crashed/)
    expect(log).not.toMatch(/listening on http/)
    // The first start and three restarts: no endless loop.
    expect(r.stderr.filter((l) => / started$/.test(l))).toHaveLength(4)
  })

  it('should restart a worker that ran longer than --min-uptime at once, and reset the count', async () => {
    const r = cli([APP, ...BASE, '--workers', '1', '--min-uptime', '50'])
    const port = await r.ready()
    for (let round = 0; round < 3; round++) {
      const pid = pidOf(await get(port, '/pid'))
      await new Promise((resolve) => setTimeout(resolve, 100))
      const from = r.stderr.length
      process.kill(pid, 'SIGKILL')
      await r.waitFor(
        new RegExp(`\\(pid ${pid}\\) was killed by SIGKILL after .*; restarting it$`),
        {
          from,
        }
      )
      await r.waitFor(/worker 1 \(pid \d+\) listening$/, { from })
    }
    expect(r.stderr.join('\n')).not.toMatch(/crash \d+ in a row/)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })
})

describe('shallot-serve: workers that cannot start', () => {
  it('should exit 3 at once when the module throws at import, without restarting it', async () => {
    for (const workers of ['2', '0']) {
      const r = cli([fixture('throws-at-import.mjs'), ...BASE, '--workers', workers])
      expect(await exitWithin(r), r.output()).toEqual({ code: 3, signal: null })
      const log = r.stderr.join('\n')
      expect(log).toMatch(/could not load \.\/throws-at-import\.mjs: Error: boom at import\n\s+at /)
      expect(log).not.toMatch(/restarting|listening on/)
      if (workers === '2') {
        expect(log).toMatch(/stopping: the workers cannot start \(exit code 3\)/)
        expect(r.stderr.filter((l) => / started$/.test(l))).toHaveLength(2)
      }
    }
  })

  it('should exit 3 when the module exports no handler, naming what it exports', async () => {
    const none = cli([fixture('no-handler.mjs'), ...BASE, '--workers', '1'])
    expect((await exitWithin(none)).code).toBe(3)
    expect(none.stderr.join('\n')).toMatch(
      /\.\/no-handler\.mjs exports no request handler: expected a function \(req, res\) as its default export or as a named export "handler" or "app"; it exports "handlerName", "port"/
    )
    const koa = cli([fixture('koa-like.mjs'), ...BASE, '--workers', '0'])
    expect((await exitWithin(koa)).code).toBe(3)
    expect(koa.stderr.join('\n')).toMatch(/\(a Koa app\? export app\.callback\(\)\)/)
  })

  it('should exit 3 when the module calls serve() itself', async () => {
    const r = cli([fixture('serves-itself.mjs'), ...BASE, '--workers', '1'])
    expect((await exitWithin(r)).code).toBe(3)
    expect(r.stderr.join('\n')).toMatch(
      /serve\(\) was called by the module that shallot-serve loads: export the handler instead/
    )
  })

  it('should exit 4 when the port is taken, without restarting', async () => {
    const blocker = createServer((_req, res) => res.end())
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const { port } = blocker.address() as AddressInfo
    try {
      for (const workers of ['2', '0']) {
        const r = cli([APP, '--port', String(port), '--host', '127.0.0.1', '--workers', workers])
        expect(await exitWithin(r), r.output()).toEqual({ code: 4, signal: null })
        const log = r.stderr.join('\n')
        expect(log).toContain(
          `could not listen on 127.0.0.1:${port}: EADDRINUSE (the port is in use)`
        )
        expect(log).not.toMatch(/restarting/)
      }
    } finally {
      blocker.close()
    }
  })
})

describe('shallot-serve: SIGHUP', () => {
  it('should replace every worker, new ones first, without dropping a request', async () => {
    const r = cli([APP, ...BASE, '--workers', '2'])
    const port = await r.ready()
    const old = numbers(r, /worker \d \(pid (\d+)\) listening$/)
    expect(old).toHaveLength(2)
    const from = r.stderr.length
    const running = load(port, 4, () =>
      old.every((pid) => r.stderr.some((l) => l.endsWith(`(pid ${pid}) stopped`)))
    )
    r.signal('SIGHUP')
    const outcomes = await running
    expect(outcomes.filter((o) => !o.ok)).toEqual([])
    await r.waitFor(/SIGHUP: replacing every worker/, { from })
    const fresh = new Set<number>()
    for (let i = 0; i < 10; i++) fresh.add(pidOf(await get(port, '/pid')))
    expect(fresh.size).toBe(2)
    for (const pid of old) expect(fresh.has(pid)).toBe(false)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })
})
