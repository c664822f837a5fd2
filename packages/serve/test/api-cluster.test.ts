import { describe, expect, it } from 'vitest'
import { exitWithin, fixture, get, pidOf, start } from './helpers.js'

describe('serve(): workers from the API', () => {
  it('should re-run the program in each worker when given a function', async () => {
    const r = start(fixture('api-script.mjs'), [])
    const port = await r.ready()
    const pids = new Set<number>()
    for (let i = 0; i < 10; i++) {
      const reply = await get(port, '/')
      expect(reply.body).toMatch(/ via function$/)
      pids.add(pidOf(reply))
    }
    expect(pids.size).toBe(2)
    expect(pids.has(r.pid)).toBe(false)
    // The contract: the script runs in the primary and in every worker; in a worker, the
    // same serve() call serves the function instead of forking.
    await r.waitFor(/^mode worker \d+$/, { stream: 'stdout' })
    const runs = r.stdout.filter((l) => l.startsWith('script-run '))
    expect(runs).toContain(`script-run ${r.pid} primary`)
    for (const pid of pids) {
      expect(runs).toContain(`script-run ${pid} worker`)
      await r.waitFor(new RegExp(`^mode worker ${pid}$`), { stream: 'stdout' })
    }
    expect(r.stdout).toContain(`mode primary ${r.pid}`)
    r.signal('SIGTERM')
    expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
  })

  it('should import the module in each worker when given a module URL, not re-run the program', async () => {
    const r = start(fixture('api-module.mjs'), [])
    const m = await r.waitFor(/^ready (http:\/\/127\.0\.0\.1:(\d+)) workers (\d+),(\d+)$/, {
      stream: 'stdout',
      ms: 15_000,
    })
    const port = Number(m[2])
    const workers = new Set([Number(m[3]), Number(m[4])])
    const pids = new Set<number>()
    for (let i = 0; i < 10; i++) pids.add(pidOf(await get(port, '/pid')))
    expect(pids).toEqual(workers)
    expect(r.stdout.filter((l) => l.startsWith('script-run '))).toEqual([`script-run ${r.pid}`])
    // The primary's lines went to the custom log function.
    expect(r.stderr.some((l) => l.startsWith('custom-log listening on http://127.0.0.1:'))).toBe(
      true
    )
    r.signal('SIGTERM')
    expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
  })
})
