import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { rawRequest } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MonitoringStats } from '../src/index.js'
import { find, parseExposition } from './helpers.js'

/*
 * Real node:cluster workers. The fixture primary runs in a child process (the test runner
 * must not become a primary); its workers import the built package, so the build is brought
 * up to date first (tsc -b is incremental: nothing to do when dist is current).
 */
const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
const PRIMARY = fileURLToPath(new URL('./fixtures/cluster-primary.mjs', import.meta.url))
const WORKERS = 2
const REQUESTS = 60

let child: ChildProcess | undefined
let url = ''
let pids: number[] = []

beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b'], { cwd: PACKAGE, stdio: 'inherit', timeout: 60_000 })
  const primary = spawn(process.execPath, [PRIMARY], {
    env: { ...process.env, WORKERS: String(WORKERS) },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  child = primary
  const ready = await new Promise<{ port: number; workers: number[] }>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`cluster not ready: ${out}`)), 15_000)
    primary.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined && out.includes('\n')) {
        clearTimeout(timer)
        resolve(JSON.parse(line))
      }
    })
    primary.on('exit', (code) => reject(new Error(`primary exited (${code}): ${out}`)))
  })
  url = `http://127.0.0.1:${ready.port}`
  pids = ready.workers
}, 90_000)

afterAll(async () => {
  const primary = child
  if (primary === undefined || primary.exitCode !== null) return
  const exited = new Promise((r) => primary.once('exit', r))
  primary.stdin?.end()
  const timer = setTimeout(() => primary.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
})

/** A request on a new connection: the primary hands each connection to the next worker. */
const get = (path: string) => rawRequest(url, { path })

describe('monitoring: node:cluster', () => {
  it('should report the whole cluster on /metrics and /stats from any worker', async () => {
    expect(pids).toHaveLength(WORKERS)
    // The workers say hello to the primary when they start: wait until a worker reports both.
    for (let i = 0; ; i++) {
      const stats = JSON.parse((await get('/stats')).body) as MonitoringStats
      if (stats.processes === WORKERS) break
      if (i === 50) throw new Error(`the cluster never reported ${WORKERS} processes`)
      await new Promise((r) => setTimeout(r, 50))
    }

    const served = new Map<string, number>()
    for (let i = 0; i < REQUESTS; i++) {
      const res = await get(`/work/${i}`)
      expect(res.status).toBe(200)
      const pid = res.headers['x-worker'] as string
      served.set(pid, (served.get(pid) ?? 0) + 1)
    }
    // Both workers did part of the work (round-robin).
    expect([...served.keys()].sort()).toEqual(pids.map(String).sort())

    const answeredBy = new Set<string>()
    for (let i = 0; i < 10 && answeredBy.size < WORKERS; i++) {
      const metrics = await get('/metrics')
      const stats = await get('/stats')
      answeredBy.add(metrics.headers['x-worker'] as string)
      answeredBy.add(stats.headers['x-worker'] as string)

      const m = parseExposition(metrics.body, 'prometheus')
      const sum = (name: string) => find(m, name).reduce((acc, s) => acc + s.value, 0)
      expect(sum('http_server_requests_total')).toBe(REQUESTS)
      expect(sum('http_server_request_duration_seconds_count')).toBe(REQUESTS)
      expect(
        find(m, 'http_server_requests_total', { method: 'GET', status_code: '200' })
      ).toHaveLength(1)
      // Default metrics come from both workers too (prom-client's aggregators).
      expect(find(m, 'process_resident_memory_bytes')).toHaveLength(1)

      const s = JSON.parse(stats.body) as MonitoringStats
      expect(s.processes).toBe(WORKERS)
      expect(s.missing).toBe(0)
      expect(s.requests.total).toBe(REQUESTS)
      expect(s.lastMinute.requests).toBe(REQUESTS)
      expect(s.latency.count).toBe(REQUESTS)
      expect(s.workers.map((w) => w.pid).sort()).toEqual([...pids].sort())
      expect(s.workers.reduce((acc, w) => acc + w.requests, 0)).toBe(REQUESTS)
      for (const w of s.workers) expect(w.requests).toBe(served.get(String(w.pid)))
    }
    expect(answeredBy.size).toBe(WORKERS)
  })
})
