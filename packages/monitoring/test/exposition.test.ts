import { stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { wantsOpenMetrics } from '../src/exposition.js'
import { METRIC_NAMES, monitoring } from '../src/index.js'
import { find, ok, parseExposition, req, serving, value } from './helpers.js'

failOnUnhandledRejections()

const N = METRIC_NAMES
const PROMETHEUS = 'text/plain; version=0.0.4; charset=utf-8'
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'
// What Prometheus 2.x/3.x sends when it scrapes.
const PROMETHEUS_SCRAPER_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

function userRegistry(): Registry {
  const registry = new Registry()
  const registers = [registry]
  new Counter({
    name: 'jobs_total',
    help: 'Jobs "done"\nso far \\ all.',
    labelNames: ['queue'],
    registers,
  }).inc({ queue: 'a"b\\c\nd' }, 2)
  new Gauge({ name: 'queue_depth', help: 'Depth.', registers }).set(7)
  new Histogram({ name: 'job_seconds', help: 'Job time.', buckets: [1, 2.5], registers }).observe(2)
  new Summary({ name: 'job_size', help: 'Job size.', percentiles: [0.5, 0.9], registers }).observe(
    3
  )
  return registry
}

describe('monitoring: /metrics formats', () => {
  it('should serve the Prometheus text format by default', async () => {
    const mon = monitoring({ registry: userRegistry(), defaultMetrics: false })
    await serving(stack(mon)(ok), async (server) => {
      await req(server, '/')
      const res = await req(server, '/metrics')
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe(PROMETHEUS)
      expect(res.headers['cache-control']).toBe('no-store')
      expect(res.headers.vary).toBe('Accept')
      const m = parseExposition(res.body, 'prometheus')
      expect(m.families.get('jobs_total')?.type).toBe('counter')
      expect(m.families.get('jobs_total')?.help).toBe('Jobs "done"\\nso far \\\\ all.')
      expect(value(m, 'jobs_total', { queue: 'a"b\\c\nd' })).toBe(2)
      expect(value(m, 'queue_depth', {})).toBe(7)
      expect(value(m, 'job_seconds_bucket', { le: '1' })).toBe(0)
      expect(value(m, 'job_seconds_bucket', { le: '2.5' })).toBe(1)
      expect(value(m, 'job_size', { quantile: '0.5' })).toBe(3)
      expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBe(1)
      expect(res.body).toContain(
        `# TYPE ${N.requests} counter\n${N.requests}{method="GET",status_code="200"} 1\n`
      )
    })
  })

  it('should serve OpenMetrics when Accept asks for it', async () => {
    const mon = monitoring({ registry: userRegistry() })
    await serving(stack(mon)(ok), async (server) => {
      await req(server, '/')
      const res = await req(server, '/metrics', { headers: { accept: PROMETHEUS_SCRAPER_ACCEPT } })
      expect(res.headers['content-type']).toBe(OPENMETRICS)
      const m = parseExposition(res.body, 'openmetrics')
      // Counter families lose _total; their samples keep it.
      expect(m.families.get('http_server_requests')?.type).toBe('counter')
      expect(m.families.has(N.requests)).toBe(false)
      expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBe(1)
      expect(value(m, 'jobs_total', { queue: 'a"b\\c\nd' })).toBe(2)
      expect(m.families.get('process_cpu_user_seconds')?.type).toBe('counter')
      // Canonical floats in le.
      expect(find(m, `${N.duration}_bucket`, { method: 'GET' }).map((s) => s.labels.le)).toContain(
        '1.0'
      )
      expect(value(m, 'job_seconds_bucket', { le: '2.5' })).toBe(1)
      // A Prometheus scrape after an OpenMetrics one still has the _total names.
      const again = await req(server, '/metrics')
      expect(again.headers['content-type']).toBe(PROMETHEUS)
      const p = parseExposition(again.body, 'prometheus')
      expect(p.families.has(N.requests)).toBe(true)
      expect(p.families.has('process_cpu_user_seconds_total')).toBe(true)
    })
  })

  it('should answer HEAD with the headers only, and refuse other methods with 405', async () => {
    await serving(stack(monitoring({ defaultMetrics: false }))(ok), async (server) => {
      const head = await req(server, '/metrics', { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.body).toBe('')
      expect(Number(head.headers['content-length'])).toBeGreaterThan(0)
      for (const path of ['/metrics', '/stats', '/healthz', '/readyz', '/_monitor']) {
        for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
          const res = await req(server, path, {
            method,
            body: method === 'OPTIONS' ? undefined : 'x',
          })
          expect(res.status, `${method} ${path}`).toBe(405)
          expect(res.headers.allow).toBe('GET, HEAD')
        }
      }
      // None of these reached the application, and none is counted.
      const m = parseExposition((await req(server, '/metrics')).body, 'prometheus')
      expect(find(m, N.requests)).toEqual([])
    })
  })

  it('should render through monitor.metrics() in either format', async () => {
    const mon = monitoring({ defaultMetrics: false })
    expect(parseExposition(await mon.metrics(), 'prometheus').families.has(N.requests)).toBe(true)
    const open = parseExposition(await mon.metrics('openmetrics'), 'openmetrics')
    expect(open.families.has('http_server_requests')).toBe(true)
    await expect(mon.metrics('json' as never)).rejects.toThrow(/format must be/)
  })
})

describe('wantsOpenMetrics', () => {
  it('should follow the q-values of the Accept header', () => {
    expect(wantsOpenMetrics(undefined)).toBe(false)
    expect(wantsOpenMetrics('*/*')).toBe(false)
    expect(wantsOpenMetrics('text/plain')).toBe(false)
    expect(wantsOpenMetrics('application/openmetrics-text')).toBe(true)
    expect(wantsOpenMetrics(PROMETHEUS_SCRAPER_ACCEPT)).toBe(true)
    expect(wantsOpenMetrics('application/openmetrics-text;q=0.2, text/plain;q=0.9')).toBe(false)
    expect(wantsOpenMetrics('application/openmetrics-text;q=0, */*')).toBe(false)
    expect(wantsOpenMetrics('Application/OpenMetrics-Text; version=1.0.0')).toBe(true)
  })
})
