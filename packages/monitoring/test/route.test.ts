import type { IncomingMessage } from 'node:http'
import { getPath, mount, stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { METRIC_NAMES, monitoring, normalizePath, normalizeRoute } from '../src/index.js'
import { find, json, load, ok, req, scrape, serving, value } from './helpers.js'

failOnUnhandledRejections()

const N = METRIC_NAMES

describe('normalizePath', () => {
  it('should collapse identifier-like segments into :id', () => {
    const cases: [string, string][] = [
      ['/users/42', '/users/:id'],
      ['/users/42/orders/7', '/users/:id/orders/:id'],
      ['/items/-3.5', '/items/:id'],
      ['/u/0b3c1e2a-9f7d-4c1b-8e2f-1a2b3c4d5e6f/avatar', '/u/:id/avatar'],
      ['/u/0B3C1E2A9F7D4C1B8E2F1A2B3C4D5E6F', '/u/:id'],
      ['/commits/9fceb02d0ae598e95dc970b74767f19372d61af8', '/commits/:id'],
      ['/docs/507f1f77bcf86cd799439011', '/docs/:id'],
      ['/o/01ARZ3NDEKTSV4RRFFQ69G5FAV', '/o/:id'],
      ['/days/2024-03-01', '/days/:id'],
      ['/share/aB3dE5fG7hJ9kL1mN3pQ', '/share/:id'],
      ['/users/42/', '/users/:id/'],
    ]
    for (const [path, expected] of cases) expect(normalizePath(path), path).toBe(expected)
  })

  it('should keep words, including hex-looking words without digits', () => {
    for (const path of [
      '/',
      '/users',
      '/api/v2/users',
      '/deadbeef',
      '/wp-admin/setup-config.php',
      '/.env',
      '/a-very-long-route-name-without-digits',
      '/v1',
      '*',
    ]) {
      expect(normalizePath(path), path).toBe(path)
    }
  })
})

describe('monitoring: the route label', () => {
  it('should take the route from a user function, called when the exchange is over', async () => {
    const routes = new WeakMap<IncomingMessage, string>()
    const route = (r: IncomingMessage) => routes.get(r)
    const app = stack(monitoring({ defaultMetrics: false, route }))((request, res) => {
      const m = /^\/users\/[^/]+$/.exec(getPath(request))
      if (m)
        routes.set(request, '/users/:name') // what a router would record
      else res.statusCode = 404
      res.end()
    })
    await serving(app, async (server) => {
      await req(server, '/users/ada')
      await req(server, '/users/grace')
      await req(server, '/nothing/here')
      const m = await scrape(server)
      expect(
        value(m, N.requests, { method: 'GET', status_code: '200', route: '/users/:name' })
      ).toBe(2)
      expect(
        value(m, N.requests, { method: 'GET', status_code: '404', route: '__unmatched__' })
      ).toBe(1)
      for (const s of find(m, N.requests))
        expect(Object.keys(s.labels)).toEqual(['method', 'status_code', 'route'])
    })
  })

  it('should record __unmatched__ for a throwing route function, and warn once', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    try {
      const route = () => {
        throw new Error('router bug')
      }
      await serving(stack(monitoring({ defaultMetrics: false, route }))(ok), async (server) => {
        await req(server, '/a')
        await req(server, '/b')
        const m = await scrape(server)
        expect(
          value(m, N.requests, { method: 'GET', status_code: '200', route: '__unmatched__' })
        ).toBe(2)
      })
      await new Promise((r) => setImmediate(r))
      expect(warnings.filter((w) => w.includes('router bug'))).toHaveLength(1)
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('should cut very long route values', async () => {
    const long = `/${'x'.repeat(500)}`
    await serving(
      stack(monitoring({ defaultMetrics: false, route: () => long }))(ok),
      async (server) => {
        await req(server, '/')
        const m = await scrape(server)
        const [s] = find(m, N.requests)
        expect(s?.labels.route).toBe(long.slice(0, 200))
      }
    )
  })

  it('should normalise the full path with normalizeRoute, outside mounts too', async () => {
    const app = stack(
      monitoring({ defaultMetrics: false, route: normalizeRoute }),
      mount('/api', ok)
    )(ok)
    await serving(app, async (server) => {
      await load(server, 5, (i) => `/api/users/${i + 1}`)
      await load(server, 3, (i) => `/api/orders/${'a1b2c3d4e5'.slice(0, 7 + i)}`)
      await req(server, '/about')
      const m = await scrape(server)
      expect(
        value(m, N.requests, { method: 'GET', status_code: '200', route: '/api/users/:id' })
      ).toBe(5)
      expect(
        value(m, N.requests, { method: 'GET', status_code: '200', route: '/api/orders/:id' })
      ).toBe(3)
      expect(value(m, N.requests, { method: 'GET', status_code: '200', route: '/about' })).toBe(1)
    })
  })
})

describe('monitoring: the cardinality cap', () => {
  it('should fold a scanner past maxSeries into one overflow series, and count it', async () => {
    const maxSeries = 40
    const mon = monitoring({ defaultMetrics: false, maxSeries, route: normalizeRoute })
    const app = stack(mon)((_req, res) => {
      res.statusCode = 404
      res.end()
    })
    const scanner = [
      '/wp-admin/setup-config.php',
      '/.env',
      '/.git/config',
      '/phpmyadmin/index.php',
      '/cgi-bin/luci',
      '/vendor/phpunit/eval-stdin.php',
    ]
    const paths = (i: number) =>
      `${scanner[i % scanner.length]}.bak${'x'.repeat(i % 7)}-${String.fromCharCode(97 + (i % 26))}${Math.floor(
        i / 26
      )
        .toString(36)
        .replace(/\d/g, 'q')}`
    const total = 3000
    await serving(app, async (server) => {
      await load(server, total, paths, 32)
      // Hostile methods too: still within the cap.
      for (const method of ['PROPFIND', 'LOCK', 'PURGE']) await req(server, '/x', { method })
      const m = await scrape(server)
      const series = find(m, N.requests)
      expect(series.length).toBe(maxSeries + 1)
      const overflow = find(m, N.requests, {
        method: '__overflow__',
        status_code: '__overflow__',
        route: '__overflow__',
      })
      expect(overflow).toHaveLength(1)
      const sum = series.reduce((acc, s) => acc + s.value, 0)
      expect(sum).toBe(total + 3)
      const overflowed = value(m, N.overflow, {}) as number
      expect(overflowed).toBe(overflow[0]?.value)
      expect(overflowed).toBe(
        total + 3 - series.filter((s) => s !== overflow[0]).reduce((a, s) => a + s.value, 0)
      )
      // Every histogram has the same bounded set of series.
      expect(find(m, `${N.duration}_count`)).toHaveLength(maxSeries + 1)
      const { body } = await json<{ series: { count: number; max: number; overflowed: number } }>(
        server,
        '/stats'
      )
      expect(body.series).toEqual({ count: maxSeries, max: maxSeries, overflowed })
    })
  })

  it('should never see paths the stack refuses (400 before any layer runs)', async () => {
    const mon = monitoring({ defaultMetrics: false, route: normalizeRoute })
    await serving(stack(mon)(ok), async (server) => {
      for (const path of ['/%2e%2e/%2e%2e/etc/passwd', '/a%00b', '/%ZZ', '/a%2Fb', '/\\evil']) {
        expect((await req(server, path)).status, path).toBe(400)
      }
      const m = await scrape(server)
      expect(find(m, N.requests)).toEqual([])
      expect(find(m, N.active)).toEqual([])
    })
  })

  it('should cap label combinations without a route label too', async () => {
    const mon = monitoring({ defaultMetrics: false, maxSeries: 3 })
    const app = stack(mon)((r, res) => {
      res.statusCode = Number(getPath(r).slice(1)) || 200
      res.end()
    })
    await serving(app, async (server) => {
      for (const status of [200, 201, 202, 203, 204, 205]) await req(server, `/${status}`)
      const m = await scrape(server)
      expect(find(m, N.requests)).toHaveLength(4)
      expect(value(m, N.requests, { method: '__overflow__', status_code: '__overflow__' })).toBe(3)
      expect(value(m, N.overflow, {})).toBe(3)
    })
  })
})
