import { HttpError, stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type MonitoringStats, monitoring } from '../src/index.js'
import { json, ok, quiet, req, serving } from './helpers.js'

failOnUnhandledRejections()

/** Nearest rank: the smallest value with at least p% of the values <= it. */
function nearestRank(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] as number
}

/**
 * A server whose clock only moves when a handler says so: `/d?ms=12.5` takes exactly 12.5
 * ms, head and last byte. The recorded durations are then known exactly, with no wall clock.
 */
function timedApp(options: Parameters<typeof monitoring>[0] = {}) {
  const clock = { now: 50_000 }
  const mon = monitoring({ defaultMetrics: false, clock: () => clock.now, ...options })
  const app = stack(
    quiet,
    mon
  )((request, res) => {
    const url = new URL(request.url ?? '/', 'http://x')
    clock.now += Number(url.searchParams.get('ms') ?? 0)
    const status = Number(url.searchParams.get('status') ?? 200)
    if (url.searchParams.has('throw')) throw new HttpError(status)
    res.statusCode = status
    res.end('x')
  })
  return { app, mon, clock }
}

describe('monitoring: /stats', () => {
  it('should have the documented shape', async () => {
    await serving(stack(monitoring({ defaultMetrics: false }))(ok), async (server) => {
      await req(server, '/')
      const { status, body, res } = await json<MonitoringStats>(server, '/stats')
      expect(status).toBe(200)
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(res.headers['cache-control']).toBe('no-store')
      expect(body).toEqual({
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        uptime: expect.any(Number),
        processes: 1,
        missing: 0,
        requests: { total: 1, errors: 0, errorRate: 0, aborted: 0, active: 0 },
        lastMinute: { requests: 1, errors: 0, errorRate: 0, perSecond: expect.any(Number) },
        latency: {
          count: 1,
          min: expect.any(Number),
          avg: expect.any(Number),
          max: expect.any(Number),
          p50: expect.any(Number),
          p95: expect.any(Number),
          p99: expect.any(Number),
        },
        duration: expect.objectContaining({ count: 1 }),
        memory: {
          rss: expect.any(Number),
          heapUsed: expect.any(Number),
          heapTotal: expect.any(Number),
          external: expect.any(Number),
        },
        cpu: { user: expect.any(Number), system: expect.any(Number), percent: expect.any(Number) },
        series: { count: 1, max: 1000, overflowed: 0 },
        workers: [
          {
            pid: process.pid,
            uptime: expect.any(Number),
            requests: 1,
            rss: expect.any(Number),
            cpu: expect.any(Number),
          },
        ],
      })
      expect(body.memory.rss).toBeGreaterThan(0)
    })
  })

  it('should report nulls, not NaN, before any request', async () => {
    const stats = await monitoring({ defaultMetrics: false }).stats()
    expect(stats.latency).toEqual({
      count: 0,
      min: null,
      avg: null,
      max: null,
      p50: null,
      p95: null,
      p99: null,
    })
    expect(stats.requests.errorRate).toBe(0)
  })

  it('should compute min/avg/max and nearest-rank percentiles from the recorded durations', async () => {
    const { app } = timedApp()
    // 40 known durations, in a scrambled order.
    const durations = Array.from({ length: 40 }, (_, i) => ((i * 17) % 40) * 2.5 + 0.25)
    await serving(app, async (server) => {
      for (const ms of durations) await req(server, `/d?ms=${ms}`)
      const { body } = await json<MonitoringStats>(server, '/stats')
      const sum = durations.reduce((a, b) => a + b, 0)
      for (const summary of [body.latency, body.duration]) {
        expect(summary.count).toBe(40)
        expect(summary.min).toBe(Math.min(...durations))
        expect(summary.max).toBe(Math.max(...durations))
        expect(summary.avg).toBeCloseTo(sum / 40, 9)
        expect(summary.p50).toBe(nearestRank(durations, 50))
        expect(summary.p95).toBe(nearestRank(durations, 95))
        expect(summary.p99).toBe(nearestRank(durations, 99))
      }
      expect(body.latency.p50).toBe(47.75) // the 20th of 0.25, 2.75, ..., 97.75
    })
  })

  it('should keep only the last `window` requests (bounded memory)', async () => {
    const { app } = timedApp({ window: 10 })
    const durations = Array.from({ length: 25 }, (_, i) => i + 1)
    await serving(app, async (server) => {
      for (const ms of durations) await req(server, `/d?ms=${ms}`)
      const { body } = await json<MonitoringStats>(server, '/stats')
      const last = durations.slice(-10)
      expect(body.requests.total).toBe(25)
      expect(body.latency.count).toBe(10)
      expect(body.latency.min).toBe(16)
      expect(body.latency.max).toBe(25)
      expect(body.latency.p50).toBe(nearestRank(last, 50))
      expect(body.latency.p99).toBe(25)
    })
  })

  it('should count 5xx and errors caught by the stack as errors', async () => {
    const { app } = timedApp()
    await serving(app, async (server) => {
      await req(server, '/?status=200')
      await req(server, '/?status=404')
      await req(server, '/?status=503')
      await req(server, '/?status=404&throw') // a 404 thrown: getError(req) is set
      await req(server, '/?status=500&throw')
      const { body } = await json<MonitoringStats>(server, '/stats')
      expect(body.requests.total).toBe(5)
      expect(body.requests.errors).toBe(3)
      expect(body.requests.errorRate).toBeCloseTo(0.6, 12)
      expect(body.lastMinute).toEqual({ requests: 5, errors: 3, errorRate: 0.6, perSecond: 5 })
    })
  })

  it('should compute the rate over the last minute only', async () => {
    const { app, clock } = timedApp()
    await serving(app, async (server) => {
      for (let i = 0; i < 30; i++) await req(server, '/?ms=1000') // 30 requests over 30 s
      let { body } = await json<MonitoringStats>(server, '/stats')
      expect(body.lastMinute.requests).toBe(30)
      expect(body.lastMinute.perSecond).toBe(1)
      clock.now += 45_000 // 75 s after start: the first 15 s are out of the window
      ;({ body } = await json<MonitoringStats>(server, '/stats'))
      expect(body.requests.total).toBe(30)
      expect(body.lastMinute.requests).toBe(15)
      expect(body.lastMinute.perSecond).toBe(0.25)
      clock.now += 120_000
      ;({ body } = await json<MonitoringStats>(server, '/stats'))
      expect(body.lastMinute).toEqual({ requests: 0, errors: 0, errorRate: 0, perSecond: 0 })
    })
  })

  it('should not count its own endpoints, unless countEndpoints is on', async () => {
    for (const countEndpoints of [false, true]) {
      await serving(
        stack(monitoring({ defaultMetrics: false, countEndpoints }))(ok),
        async (server) => {
          await req(server, '/')
          for (const path of ['/metrics', '/healthz', '/readyz', '/_monitor', '/stats'])
            await req(server, path)
          const { body } = await json<MonitoringStats>(server, '/stats')
          // The last /stats is still in flight while it counts.
          expect(body.requests.total).toBe(countEndpoints ? 6 : 1)
        }
      )
    }
  })
})
