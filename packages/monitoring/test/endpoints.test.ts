import { createHash } from 'node:crypto'
import { apiKey, basic } from '@shallot/auth'
import { type Middleware, mount, stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { relativeUrl } from '../src/config.js'
import {
  isMonitoringEndpoint,
  METRIC_NAMES,
  type MonitoringStats,
  monitoring,
} from '../src/index.js'
import { json, ok, parseExposition, quiet, req, scrape, serving, value } from './helpers.js'

failOnUnhandledRejections()

const N = METRIC_NAMES
const app404 = stack()((_req, res) => {
  res.statusCode = 404
  res.end('app')
})

describe('monitoring: endpoint paths', () => {
  it('should serve the five endpoints at their default paths', async () => {
    await serving(stack(monitoring({ defaultMetrics: false }))(app404), async (server) => {
      expect((await req(server, '/metrics')).status).toBe(200)
      expect((await req(server, '/stats')).status).toBe(200)
      expect((await req(server, '/healthz')).status).toBe(200)
      expect((await req(server, '/readyz')).status).toBe(200)
      expect((await req(server, '/_monitor')).status).toBe(200)
      // Exact paths: anything else is the application's.
      for (const path of ['/metrics/', '/metrics/x', '/Metrics', '/healthzz', '/']) {
        expect((await req(server, path)).body, path).toBe('app')
      }
      // Query strings do not matter; non-canonical spellings are canonicalised first.
      expect((await req(server, '/healthz?verbose')).status).toBe(200)
      expect((await req(server, '/x/../healthz')).status).toBe(200)
      expect((await req(server, '/%68ealthz')).status).toBe(200)
    })
  })

  it('should move endpoints and switch each off with false', async () => {
    const mon = monitoring({
      defaultMetrics: false,
      endpoints: {
        metrics: '/internal/prometheus',
        healthz: false,
        dashboard: '/ops/dash',
        stats: '/ops/stats',
      },
    })
    await serving(stack(mon)(app404), async (server) => {
      expect((await req(server, '/internal/prometheus')).status).toBe(200)
      expect((await req(server, '/metrics')).body).toBe('app')
      expect((await req(server, '/healthz')).body).toBe('app')
      expect((await req(server, '/readyz')).status).toBe(200)
      expect((await req(server, '/ops/stats')).status).toBe(200)
      const page = await req(server, '/ops/dash')
      expect(page.body).toContain('data-stats="./stats"')
      // The requests that went to the application are counted; the endpoints are not.
      const m = await scrape(server, '/internal/prometheus')
      expect(value(m, N.requests, { method: 'GET', status_code: '404' })).toBe(2)
    })
  })

  it('should serve no endpoint with endpoints: false', async () => {
    await serving(
      stack(monitoring({ defaultMetrics: false, endpoints: false }))(app404),
      async (server) => {
        for (const path of ['/metrics', '/stats', '/healthz', '/readyz', '/_monitor']) {
          expect((await req(server, path)).body, path).toBe('app')
        }
      }
    )
  })

  it('should compute the stats URL of the dashboard relative to its own path', () => {
    expect(relativeUrl('/_monitor', '/stats')).toBe('./stats')
    expect(relativeUrl('/admin/monitor', '/stats')).toBe('../stats')
    expect(relativeUrl('/a/b/monitor', '/a/stats')).toBe('../stats')
    expect(relativeUrl('/a/monitor', '/a/b/stats')).toBe('./b/stats')
    expect(relativeUrl('/monitor', '/my stats')).toBe('./my%20stats')
  })

  it('should work under mount, the dashboard polling the mounted stats', async () => {
    const mon = monitoring({ defaultMetrics: false, endpoints: false })
    await serving(stack(mon, mount('/internal', mon.endpoints()))(app404), async (server) => {
      await req(server, '/x')
      expect((await req(server, '/metrics')).body).toBe('app')
      const m = await scrape(server, '/internal/metrics')
      expect(value(m, N.requests, { method: 'GET', status_code: '404' })).toBe(2)
      const page = await req(server, '/internal/_monitor')
      expect(page.body).toContain('data-stats="./stats"')
      expect(new URL('./stats', `${server.url}/internal/_monitor`).pathname).toBe('/internal/stats')
      const { body } = await json<MonitoringStats>(server, '/internal/stats')
      expect(body.requests.total).toBe(2) // /x and /metrics (the app's); not the endpoints'
    })
  })
})

describe('monitoring: behind @shallot/auth', () => {
  it('should put /metrics, /stats and the dashboard behind an API key, probes open', async () => {
    // Probes stay open (Kubernetes sends no credentials); the rest needs the key.
    const mon = monitoring({
      defaultMetrics: false,
      endpoints: { metrics: false, stats: false, dashboard: false },
    })
    const app = stack(
      quiet,
      mon,
      apiKey({ keys: ['s3cret'], paths: ['/metrics', '/stats', '/_monitor'] }),
      mon.endpoints({ healthz: false, readyz: false })
    )(app404)
    await serving(app, async (server) => {
      expect((await req(server, '/healthz')).status).toBe(200)
      expect((await req(server, '/readyz')).status).toBe(200)
      for (const path of ['/metrics', '/stats', '/_monitor']) {
        const denied = await req(server, path)
        expect(denied.status, path).toBe(401)
        expect(denied.body).not.toContain('http_server')
        expect((await req(server, path, { headers: { 'x-api-key': 'wrong' } })).status).toBe(401)
        expect((await req(server, path, { headers: { 'x-api-key': 's3cret' } })).status).toBe(200)
      }
      expect((await req(server, '/app')).status).toBe(404)
      const res = await req(server, '/metrics', { headers: { 'x-api-key': 's3cret' } })
      const m = parseExposition(res.body, 'prometheus')
      // Refused scrapes are traffic like any other; served ones are not counted.
      expect(value(m, N.requests, { method: 'GET', status_code: '401' })).toBe(6)
      expect(value(m, N.requests, { method: 'GET', status_code: '404' })).toBe(1)
      expect(value(m, N.requests, { method: 'GET', status_code: '200' })).toBeUndefined()
    })
  })

  it('should work with Basic too, which a browser sends along to the dashboard fetches', async () => {
    const mon = monitoring({ defaultMetrics: false, endpoints: false })
    const ops = stack(basic({ users: { ops: 'correct horse' }, realm: 'ops' }), mon.endpoints())
    await serving(stack(quiet, mon, mount('/ops', ops))(app404), async (server) => {
      const auth = `Basic ${Buffer.from('ops:correct horse').toString('base64')}`
      expect((await req(server, '/ops/stats')).status).toBe(401)
      expect((await req(server, '/ops/stats', { headers: { authorization: auth } })).status).toBe(
        200
      )
      expect(
        (await req(server, '/ops/_monitor', { headers: { authorization: auth } })).status
      ).toBe(200)
      expect((await req(server, '/stats')).body).toBe('app')
    })
  })
})

describe('monitoring: handlers', () => {
  it('should expose each endpoint as a plain handler, marked as an endpoint', async () => {
    const mon = monitoring({ defaultMetrics: false, endpoints: false })
    const seen: boolean[] = []
    const log: Middleware = (next) => async (request, res) => {
      res.on('finish', () => seen.push(isMonitoringEndpoint(request)))
      return next(request, res)
    }
    const app = stack(
      log,
      mon,
      mount('/m', mon.handlers.metrics),
      mount('/h', mon.handlers.healthz),
      mount('/r', mon.handlers.readyz),
      mount('/s', mon.handlers.stats),
      mount('/d', mon.handlers.dashboard)
    )(app404)
    await serving(app, async (server) => {
      expect((await req(server, '/m')).body).toContain('# TYPE http_server_requests_total counter')
      expect((await json(server, '/h')).body).toEqual({ status: 'ok' })
      expect((await json(server, '/r')).status).toBe(200)
      expect((await json<MonitoringStats>(server, '/s')).body.requests.total).toBe(0)
      expect((await req(server, '/d')).body).toContain('data-stats="./stats"')
      await req(server, '/other')
      await new Promise((r) => setImmediate(r))
      expect(seen).toEqual([true, true, true, true, true, false])
    })
  })
})

describe('monitoring: the dashboard page', () => {
  it('should be self-contained, with a CSP allowing exactly its inline script and style', async () => {
    await serving(stack(monitoring({ defaultMetrics: false }))(ok), async (server) => {
      const res = await req(server, '/_monitor')
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['x-frame-options']).toBe('DENY')
      const csp = res.headers['content-security-policy'] as string
      const html = res.body
      const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] as string
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] as string
      const hash = (text: string) =>
        `'sha256-${createHash('sha256').update(text).digest('base64')}'`
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain(`script-src ${hash(script)}`)
      expect(csp).toContain(`style-src ${hash(style)}`)
      expect(csp).toContain("connect-src 'self'")
      expect(csp).not.toContain('unsafe-inline')
      // No external resource of any kind.
      expect(html).not.toMatch(/(?:src|href)="(?!data:)/)
      expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
      expect(html.match(/<script/g)).toHaveLength(1)
      expect(html.match(/<style/g)).toHaveLength(1)
      expect(html).not.toMatch(/ on[a-z]+=/) // no inline event handlers
    })
  })
})
