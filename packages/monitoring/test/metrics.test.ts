import { connect } from 'node:net'
import { HttpError, stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { Counter, collectDefaultMetrics, register as globalRegistry, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { DEFAULT_DURATION_BUCKETS, METRIC_NAMES, monitoring } from '../src/index.js'
import { eventually, find, load, ok, quiet, req, scrape, serving, value } from './helpers.js'

failOnUnhandledRejections()

const N = METRIC_NAMES

describe('monitoring: the HTTP metrics after known traffic', () => {
  it('should count requests by method and status code, with OTel names and buckets', async () => {
    const app = stack(
      quiet,
      monitoring({ defaultMetrics: false })
    )((request, res) => {
      if (request.url === '/missing') res.statusCode = 404
      if (request.url === '/boom') throw new Error('boom')
      res.end('hello')
    })
    await serving(app, async (server) => {
      await load(server, 7, () => '/')
      await load(server, 3, () => '/missing')
      await load(server, 2, () => '/boom')
      await load(
        server,
        4,
        () => '/',
        2,
        () => ({ method: 'POST', body: 'x' })
      )
      const m = await scrape(server)

      expect([...m.families.keys()]).toEqual([
        N.requests,
        N.duration,
        N.ttfb,
        N.size,
        N.active,
        N.aborted,
        N.overflow,
      ])
      expect(m.families.get(N.requests)?.type).toBe('counter')
      expect(m.families.get(N.duration)?.type).toBe('histogram')
      expect(m.families.get(N.active)?.type).toBe('gauge')

      expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBe(7)
      expect(value(m, N.requests, { method: 'GET', status_code: '404' })).toBe(3)
      expect(value(m, N.requests, { method: 'GET', status_code: '500' })).toBe(2)
      expect(value(m, N.requests, { method: 'POST', status_code: '200' })).toBe(4)
      // No route label without a route function: the raw path is never a label.
      for (const s of find(m, N.requests))
        expect(Object.keys(s.labels)).toEqual(['method', 'status_code'])
      // The endpoint's own request is not counted.
      expect(find(m, N.requests).reduce((sum, s) => sum + s.value, 0)).toBe(16)

      // Histograms: the OTel buckets, cumulative, +Inf = _count = the request count.
      const buckets = find(m, `${N.duration}_bucket`, { method: 'GET', status_code: '200' })
      expect(buckets.map((b) => b.labels.le)).toEqual([
        ...DEFAULT_DURATION_BUCKETS.map(String),
        '+Inf',
      ])
      for (let i = 1; i < buckets.length; i++) {
        expect(buckets[i]?.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value as number)
      }
      expect(buckets.at(-1)?.value).toBe(7)
      expect(value(m, `${N.duration}_count`, { method: 'GET', status_code: '200' })).toBe(7)
      expect(value(m, `${N.ttfb}_count`, { method: 'GET', status_code: '200' })).toBe(7)
      expect(value(m, `${N.duration}_sum`, { method: 'GET', status_code: '200' })).toBeGreaterThan(
        0
      )

      // Body sizes: 'hello' is 5 bytes; the stack's 500 page is its own length.
      expect(value(m, `${N.size}_sum`, { method: 'GET', status_code: '200' })).toBe(35)
      expect(value(m, `${N.size}_bucket`, { method: 'GET', status_code: '200', le: '0' })).toBe(0)
      expect(value(m, `${N.size}_bucket`, { method: 'GET', status_code: '200', le: '100' })).toBe(7)

      expect(value(m, N.active, { method: 'GET' })).toBe(0)
      expect(value(m, N.active, { method: 'POST' })).toBe(0)
      expect(find(m, N.active, { method: 'PUT' })).toEqual([]) // never seen: no zero line
      expect(find(m, N.aborted)).toEqual([])
      expect(value(m, N.overflow, {})).toBe(0)
    })
  })

  it('should count requests in flight', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    let entered = 0
    const app = stack(monitoring({ defaultMetrics: false }))(async (_req, res) => {
      entered++
      await gate
      res.end('late')
    })
    await serving(app, async (server) => {
      const pending = Promise.all([
        req(server, '/a'),
        req(server, '/b'),
        req(server, '/c', { method: 'DELETE' }),
      ])
      await eventually(() => entered === 3)
      const during = await scrape(server)
      expect(value(during, N.active, { method: 'GET' })).toBe(2)
      expect(value(during, N.active, { method: 'DELETE' })).toBe(1)
      release()
      await pending
      const after = await scrape(server)
      expect(value(after, N.active, { method: 'GET' })).toBe(0)
      expect(value(after, N.requests, { method: 'DELETE', status_code: '200' })).toBe(1)
    })
  })

  it('should record 0 bytes for HEAD, 204 and 304, and count streamed bytes', async () => {
    const app = stack(monitoring({ defaultMetrics: false }))((request, res) => {
      if (request.url === '/204') res.statusCode = 204
      if (request.url === '/304') res.statusCode = 304
      if (request.url === '/stream') {
        res.write('ab')
        res.write(Buffer.from('cde'))
        res.write('é', 'utf8')
        res.end(new Uint8Array(10))
        return
      }
      res.end('body')
    })
    await serving(app, async (server) => {
      await req(server, '/', { method: 'HEAD' })
      await req(server, '/204')
      await req(server, '/304')
      await req(server, '/stream')
      const m = await scrape(server)
      expect(value(m, `${N.size}_sum`, { method: 'HEAD', status_code: '200' })).toBe(0)
      expect(value(m, `${N.size}_bucket`, { method: 'HEAD', status_code: '200', le: '0' })).toBe(1)
      expect(value(m, `${N.size}_sum`, { method: 'GET', status_code: '204' })).toBe(0)
      expect(value(m, `${N.size}_sum`, { method: 'GET', status_code: '304' })).toBe(0)
      expect(value(m, `${N.size}_sum`, { method: 'GET', status_code: '200' })).toBe(2 + 3 + 2 + 10)
    })
  })

  it('should leave the size metric out with responseSize: false', async () => {
    await serving(
      stack(monitoring({ defaultMetrics: false, responseSize: false }))(ok),
      async (server) => {
        await req(server, '/')
        const m = await scrape(server)
        expect(m.families.has(N.size)).toBe(false)
        expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBe(1)
      }
    )
  })

  it('should honour the buckets option for both duration histograms', async () => {
    const buckets = [0.001, 0.5, 2]
    await serving(stack(monitoring({ defaultMetrics: false, buckets }))(ok), async (server) => {
      await req(server, '/')
      const m = await scrape(server)
      for (const name of [N.duration, N.ttfb]) {
        const got = find(m, `${name}_bucket`, { method: 'GET' }).map((b) => b.labels.le)
        expect(got).toEqual(['0.001', '0.5', '2', '+Inf'])
      }
    })
  })

  it('should honour sizeBuckets', async () => {
    await serving(
      stack(monitoring({ defaultMetrics: false, sizeBuckets: [1, 4, 16] }))(ok),
      async (server) => {
        await req(server, '/')
        const m = await scrape(server)
        const got = find(m, `${N.size}_bucket`, { method: 'GET' })
        expect(got.map((b) => [b.labels.le, b.value])).toEqual([
          ['1', 0],
          ['4', 1],
          ['16', 1],
          ['+Inf', 1],
        ])
      }
    )
  })
})

describe('monitoring: time to head vs time to last byte', () => {
  it('should keep a long stream out of the latency histogram', async () => {
    let now = 1000
    const app = stack(monitoring({ defaultMetrics: false, clock: () => now }))(
      async (request, res) => {
        if (request.url !== '/stream') {
          now += 3
          res.end('quick')
          return
        }
        now += 2 // the head goes out after 2 ms...
        res.write('first\n')
        await new Promise((r) => setImmediate(r))
        now += 30_000 // ...the body streams for 30 s
        res.end('last\n')
      }
    )
    await serving(app, async (server) => {
      await req(server, '/stream')
      await req(server, '/')
      const m = await scrape(server)
      const labels = { method: 'GET', status_code: '200' }
      expect(value(m, `${N.ttfb}_sum`, labels)).toBeCloseTo(0.005, 9)
      expect(value(m, `${N.duration}_sum`, labels)).toBeCloseTo(30.005, 9)
      // Latency: both requests under 5 ms. Duration: one in the +Inf bucket (over 10 s).
      expect(value(m, `${N.ttfb}_bucket`, { ...labels, le: '0.005' })).toBe(2)
      expect(value(m, `${N.duration}_bucket`, { ...labels, le: '0.005' })).toBe(1)
      expect(value(m, `${N.duration}_bucket`, { ...labels, le: '10' })).toBe(1)
      expect(value(m, `${N.duration}_bucket`, { ...labels, le: '+Inf' })).toBe(2)
    })
  })
})

describe('monitoring: aborted requests', () => {
  /** Sends a request on a raw socket and destroys it once the server has the request. */
  function abortAfter(port: number, path: string, ready: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      })
      socket.on('error', () => {})
      ready.then(() => {
        socket.destroy()
        resolve()
      })
    })
  }

  it('should count an abort before the head as 499 and after it with its status', async () => {
    let headless: () => void = () => {}
    let midway: () => void = () => {}
    const beforeHead = new Promise<void>((r) => (headless = r))
    const afterHead = new Promise<void>((r) => (midway = r))
    const closed: Promise<void>[] = []
    const app = stack(monitoring({ defaultMetrics: false }))((request, res) => {
      closed.push(new Promise((r) => res.on('close', () => setImmediate(r))))
      if (request.url === '/slow') {
        headless()
        return // never answers
      }
      res.statusCode = 201
      res.write('partial')
      midway()
    })
    await serving(app, async (server) => {
      await abortAfter(server.port, '/slow', beforeHead)
      await abortAfter(server.port, '/stream', afterHead)
      await eventually(() => closed.length === 2)
      await Promise.all(closed)
      const m = await scrape(server)
      expect(value(m, N.aborted, { method: 'GET', status_code: '499' })).toBe(1)
      expect(value(m, N.aborted, { method: 'GET', status_code: '201' })).toBe(1)
      expect(value(m, N.requests, { method: 'GET', status_code: '499' })).toBe(1)
      // No head, no time to first byte; the duration is recorded.
      expect(find(m, `${N.ttfb}_count`, { status_code: '499' })).toEqual([])
      expect(value(m, `${N.duration}_count`, { method: 'GET', status_code: '499' })).toBe(1)
      expect(value(m, `${N.size}_sum`, { method: 'GET', status_code: '201' })).toBe(7)
      expect(value(m, N.active, { method: 'GET' })).toBe(0)
    })
  })
})

describe('monitoring: methods', () => {
  it('should fold methods outside the OTel list into _OTHER', async () => {
    await serving(stack(monitoring({ defaultMetrics: false }))(ok), async (server) => {
      for (const method of ['PROPFIND', 'PURGE', 'MKCOL', 'LOCK', 'SEARCH']) {
        expect((await req(server, '/', { method })).status).toBe(200)
      }
      await req(server, '/', { method: 'PATCH' })
      const m = await scrape(server)
      expect(value(m, N.requests, { method: '_OTHER', status_code: '200' })).toBe(5)
      expect(value(m, N.requests, { method: 'PATCH', status_code: '200' })).toBe(1)
      expect(find(m, N.requests, { method: 'PURGE' })).toEqual([])
    })
  })

  it('should take knownMethods as a full override', async () => {
    const mon = monitoring({ defaultMetrics: false, knownMethods: ['GET', 'PURGE'] })
    await serving(stack(mon)(ok), async (server) => {
      await req(server, '/', { method: 'PURGE' })
      await req(server, '/', { method: 'POST' })
      const m = await scrape(server)
      expect(value(m, N.requests, { method: 'PURGE', status_code: '200' })).toBe(1)
      expect(value(m, N.requests, { method: '_OTHER', status_code: '200' })).toBe(1)
    })
  })
})

describe('monitoring: registry and default metrics', () => {
  it('should register in a user registry, next to the user metrics', async () => {
    const registry = new Registry()
    const jobs = new Counter({ name: 'jobs_done_total', help: 'Jobs done.', registers: [registry] })
    jobs.inc(3)
    const mon = monitoring({ registry, defaultMetrics: false })
    expect(mon.registry).toBe(registry)
    await serving(stack(mon)(ok), async (server) => {
      await req(server, '/')
      const m = await scrape(server)
      expect(value(m, 'jobs_done_total', {})).toBe(3)
      expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBe(1)
      // The registry's own API sees the HTTP metrics too.
      expect(await registry.getSingleMetricAsString(N.requests)).toMatch(
        /http_server_requests_total\{method="GET",status_code="200"\} 1/
      )
    })
    expect(() => monitoring({ registry, defaultMetrics: false })).toThrow(
      /^\[@shallot\/monitoring\] option "registry" must be a registry without a metric named "http_server_requests_total"/
    )
  })

  it('should use its own registry by default, so two monitors do not collide', () => {
    const a = monitoring({ defaultMetrics: false })
    const b = monitoring({ defaultMetrics: false })
    expect(a.registry).not.toBe(b.registry)
    expect(a.registry).not.toBe(globalRegistry)
  })

  it('should collect the default process metrics unless turned off', async () => {
    const on = monitoring({ defaultMetrics: { prefix: 'app_' } })
    const om = await on.metrics()
    for (const name of [
      'app_process_cpu_user_seconds_total',
      'app_process_resident_memory_bytes',
      'app_nodejs_heap_size_used_bytes',
      'app_nodejs_eventloop_lag_p99_seconds',
      'app_nodejs_active_handles_total',
      'app_nodejs_gc_duration_seconds',
    ]) {
      expect(om).toContain(`# TYPE ${name} `)
    }
    const off = await monitoring({ defaultMetrics: false }).metrics()
    expect(off).not.toMatch(/process_|nodejs_/)
    expect(() => monitoring({ registry: on.registry as Registry })).toThrow(/option "registry"/)
    // A registry that already collects them: refused, unless defaultMetrics is off.
    const collecting = new Registry()
    collectDefaultMetrics({ register: collecting })
    expect(() => monitoring({ registry: collecting })).toThrow(
      /^\[@shallot\/monitoring\] option "defaultMetrics" must be false when the registry already collects/
    )
    expect(collecting.getSingleMetric(N.requests)).toBeUndefined() // nothing half-registered
    expect(() => monitoring({ registry: collecting, defaultMetrics: false })).not.toThrow()
  })

  it('should zero the HTTP metrics on registry.resetMetrics()', async () => {
    const mon = monitoring({ defaultMetrics: false })
    await serving(stack(mon)(ok), async (server) => {
      await req(server, '/')
      mon.registry.resetMetrics()
      const m = await scrape(server)
      expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBe(0)
    })
  })

  it('should record errors rendered by the stack with their status', async () => {
    const app = stack(
      quiet,
      monitoring({ defaultMetrics: false })
    )(() => {
      throw new HttpError(418, 'teapot')
    })
    await serving(app, async (server) => {
      expect((await req(server, '/')).status).toBe(418)
      const m = await scrape(server)
      expect(value(m, N.requests, { method: 'GET', status_code: '418' })).toBe(1)
    })
  })
})
