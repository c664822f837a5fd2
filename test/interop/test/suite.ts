/**
 * The conformance suite every framework file runs: each Shallot package, and a whole stack,
 * inside a real app of the framework, driven over real sockets.
 *
 * A framework file provides `serve(layer)`: a real app with `layer` in front (through the
 * adapter that framework needs) and these routes, written the framework's own way, reading
 * the per-request accessors from the framework's request (Express `req`, Fastify
 * `request.raw`, Koa `ctx.req`, Connect `req`):
 *
 * | route             | answers                                                                     |
 * | ----------------- | --------------------------------------------------------------------------- |
 * | `GET /hello`      | 200 `text/plain` `hello`                                                    |
 * | `GET /whoami`     | 200 JSON `{ principal, scheme }`: `getPrincipal(req)`, `getAuthScheme(req)` |
 * | `GET /visits`     | adds 1 to the session's `visits` (`getSession(req)`), 200 JSON `{ visits }` |
 * | `GET /request-id` | 200 JSON `{ requestId }`: `getRequestId(req)`                               |
 * | `GET /timed`      | `getTiming(req).add('db', { dur: 12.5, desc: 'query' })`, 200 `timed`       |
 * | `GET /boom`       | throws `new Error('route failed')`: the framework's error handling answers  |
 * | `GET /big`        | 200 `text/plain`, {@link BIG} (compressible)                                |
 * | anything else     | the framework's own 404                                                     |
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { apiKey, basic, bearer } from '@shallot/auth'
import { compression } from '@shallot/compression'
import { cors } from '@shallot/cors'
import { type LogRecord, logging } from '@shallot/logging'
import { monitoring } from '@shallot/monitoring'
import { MemoryStore, session } from '@shallot/session'
import { type Middleware, onFinished, stack } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { rawRequest } from '@shallot/test-utils'
import { timing } from '@shallot/timing'
import { describe, expect, it } from 'vitest'

/** A running app. */
export interface Served {
  url: string
  close(): Promise<void>
}

export interface Framework {
  /** As it appears in test names, e.g. `Express 5`. */
  name: string
  /** Serves a real app of the framework: `layer` in front, then the routes above. */
  serve(layer: Middleware): Promise<Served>
}

/** The body of `GET /big`. */
export const BIG: string = 'Shallot layers, inside your framework. '.repeat(500)

export const SECRET = 'interop-secret-of-at-least-32-characters'
export const ORIGIN = 'https://app.example'
export const PUBLIC_DIR: string = fileURLToPath(new URL('./fixtures/public/', import.meta.url))

/** Runs `fn` against `layer` served by the framework, then closes the app. */
export async function withApp(
  framework: Framework,
  layer: Middleware,
  fn: (url: string) => Promise<void>
): Promise<void> {
  const app = await framework.serve(layer)
  try {
    await fn(app.url)
  } finally {
    await app.close()
  }
}

/** Values pushed by the server side, awaited by the test without sleeping. */
export class Collector<T> {
  readonly items: T[] = []
  private waiters: { n: number; resolve: () => void }[] = []

  push = (item: T): void => {
    this.items.push(item)
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length < w.n) return true
      w.resolve()
      return false
    })
  }

  /** Resolves with the items once there are at least `n` (the test's timeout bounds it). */
  async atLeast(n: number): Promise<T[]> {
    if (this.items.length < n) {
      await new Promise<void>((resolve) => this.waiters.push({ n, resolve }))
    }
    return this.items
  }
}

/**
 * An outermost layer that counts finished exchanges: its `onFinished` listener is the first
 * registered, so when `finished.atLeast(n)` resolves the inner layers' listeners (metrics, logs)
 * have run for those exchanges too.
 */
export function finishedExchanges(): { layer: Middleware; finished: Collector<number> } {
  const finished = new Collector<number>()
  const layer: Middleware = (next) =>
    function countFinished(req: IncomingMessage, res: ServerResponse) {
      onFinished(res, () => finished.push(res.statusCode))
      return next(req, res)
    }
  return { layer, finished }
}

const key = { 'x-api-key': 'k-ci' }
const basicAlice = { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` }

export function describeShallotLayers(framework: Framework): void {
  const { name } = framework

  describe(`${name}: @shallot/cors`, () => {
    const layer = () => cors({ origin: [ORIGIN], maxAge: 600 })

    it('should add the CORS headers to the route answer for an allowed origin', async () => {
      await withApp(framework, layer(), async (url) => {
        const res = await fetch(`${url}/hello`, { headers: { origin: ORIGIN } })
        expect(res.status).toBe(200)
        expect(await res.text()).toBe('hello')
        expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
        expect(res.headers.get('vary')).toMatch(/\bOrigin\b/)
      })
    })

    it('should answer a preflight itself, before the framework routes it', async () => {
      await withApp(framework, layer(), async (url) => {
        const res = await fetch(`${url}/hello`, {
          method: 'OPTIONS',
          headers: {
            origin: ORIGIN,
            'access-control-request-method': 'PUT',
            'access-control-request-headers': 'content-type',
          },
        })
        expect(res.status).toBe(204)
        expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
        expect(res.headers.get('access-control-allow-methods')).toContain('PUT')
        expect(res.headers.get('access-control-allow-headers')).toBe('content-type')
        expect(res.headers.get('access-control-max-age')).toBe('600')
        expect(await res.text()).toBe('')
      })
    })

    it('should send no CORS headers to a refused origin, and 403 with strict', async () => {
      await withApp(framework, layer(), async (url) => {
        const res = await fetch(`${url}/hello`, { headers: { origin: 'https://evil.example' } })
        expect(res.status).toBe(200)
        expect(res.headers.get('access-control-allow-origin')).toBeNull()
        expect(res.headers.get('vary')).toMatch(/\bOrigin\b/)
      })
      await withApp(framework, cors({ origin: [ORIGIN], strict: true }), async (url) => {
        const res = await fetch(`${url}/hello`, { headers: { origin: 'https://evil.example' } })
        expect(res.status).toBe(403)
        expect(res.headers.get('access-control-allow-origin')).toBeNull()
        const ok = await fetch(`${url}/hello`, { headers: { origin: ORIGIN } })
        expect(ok.status).toBe(200)
      })
    })

    it("should keep the CORS headers on the framework's 500 and 404", async () => {
      await withApp(framework, layer(), async (url) => {
        const boom = await fetch(`${url}/boom`, { headers: { origin: ORIGIN } })
        expect(boom.status).toBe(500)
        expect(boom.headers.get('access-control-allow-origin')).toBe(ORIGIN)
        const missing = await fetch(`${url}/nowhere`, { headers: { origin: ORIGIN } })
        expect(missing.status).toBe(404)
        expect(missing.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      })
    })
  })

  describe(`${name}: @shallot/auth`, () => {
    it('should refuse a missing API key with 401 and the challenge, and leave other paths open', async () => {
      await withApp(
        framework,
        apiKey({ keys: { 'k-ci': 'ci' }, paths: ['/whoami'] }),
        async (url) => {
          const denied = await fetch(`${url}/whoami`)
          expect(denied.status).toBe(401)
          expect(denied.headers.get('www-authenticate')).toBe(
            'ApiKey realm="Restricted", header="x-api-key"'
          )
          const wrong = await fetch(`${url}/whoami`, { headers: { 'x-api-key': 'nope' } })
          expect(wrong.status).toBe(401)
          expect(await (await fetch(`${url}/hello`)).text()).toBe('hello')
        }
      )
    })

    it("should give the framework's route the API key's principal", async () => {
      await withApp(
        framework,
        apiKey({ keys: { 'k-ci': 'ci' }, paths: ['/whoami'] }),
        async (url) => {
          const res = await fetch(`${url}/whoami`, { headers: key })
          expect(res.status).toBe(200)
          expect(await res.json()).toEqual({ principal: 'ci', scheme: 'apiKey' })
          expect(res.headers.get('cache-control')).toBe('private')
          expect(res.headers.get('vary')).toMatch(/x-api-key/i)
        }
      )
    })

    it('should do Basic: 401 with the challenge, then the user as principal', async () => {
      await withApp(
        framework,
        basic({ users: { alice: 'wonderland' }, realm: 'R' }),
        async (url) => {
          const denied = await fetch(`${url}/whoami`)
          expect(denied.status).toBe(401)
          expect(denied.headers.get('www-authenticate')).toBe('Basic realm="R", charset="UTF-8"')
          const wrong = await fetch(`${url}/whoami`, {
            headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` },
          })
          expect(wrong.status).toBe(401)
          const ok = await fetch(`${url}/whoami`, { headers: basicAlice })
          expect(await ok.json()).toEqual({ principal: 'alice', scheme: 'basic' })
        }
      )
    })

    it('should do Bearer: 401 without a token, invalid_token for a wrong one, the principal for a good one', async () => {
      const layer = bearer({ tokens: { 't-123': { sub: 'svc-1' } } })
      await withApp(framework, layer, async (url) => {
        const missing = await fetch(`${url}/whoami`)
        expect(missing.status).toBe(401)
        expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="Restricted"')
        const wrong = await fetch(`${url}/whoami`, { headers: { authorization: 'Bearer t-999' } })
        expect(wrong.status).toBe(401)
        expect(wrong.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
        const ok = await fetch(`${url}/whoami`, { headers: { authorization: 'Bearer t-123' } })
        expect(await ok.json()).toEqual({ principal: { sub: 'svc-1' }, scheme: 'bearer' })
      })
    })
  })

  describe(`${name}: @shallot/timing`, () => {
    it("should send X-Response-Time and Server-Timing with the route's marks", async () => {
      await withApp(framework, timing(), async (url) => {
        const res = await fetch(`${url}/timed`)
        expect(await res.text()).toBe('timed')
        expect(res.headers.get('x-response-time')).toMatch(/^\d+\.\d{3}ms$/)
        expect(res.headers.get('server-timing')).toMatch(
          /^total;dur=\d+\.\d{3}, db;dur=12\.500;desc="query"$/
        )
      })
    })

    it("should time the framework's 500 and an auth layer's 401 too", async () => {
      const layer = stack(timing(), apiKey({ keys: ['k-ci'], paths: ['/whoami'] }))
      await withApp(framework, layer, async (url) => {
        for (const [path, status] of [
          ['/boom', 500],
          ['/whoami', 401],
          ['/nowhere', 404],
        ] as const) {
          const res = await fetch(`${url}${path}`)
          expect(res.status).toBe(status)
          expect(res.headers.get('x-response-time')).toMatch(/^\d+\.\d{3}ms$/)
          expect(res.headers.get('server-timing')).toMatch(/^total;dur=\d+\.\d{3}$/)
        }
      })
    })
  })

  describe(`${name}: @shallot/logging`, () => {
    it('should log every exchange with the status sent, and give the route the request id', async () => {
      const records = new Collector<LogRecord>()
      const layer = stack(
        logging({ format: 'json', sink: (_line, record) => records.push(record) }),
        apiKey({ keys: ['k-ci'], paths: ['/whoami'] })
      )
      await withApp(framework, layer, async (url) => {
        const res = await fetch(`${url}/request-id`)
        const { requestId } = (await res.json()) as { requestId: string }
        expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
        expect(res.headers.get('x-request-id')).toBe(requestId)
        await records.atLeast(1)
        expect((await fetch(`${url}/whoami`)).status).toBe(401)
        await records.atLeast(2)
        expect((await fetch(`${url}/boom`)).status).toBe(500)
        await records.atLeast(3)
        expect((await fetch(`${url}/nowhere`)).status).toBe(404)
        const lines = await records.atLeast(4)
        expect(lines.map((r) => [r.method, r.url, r.status])).toEqual([
          ['GET', '/request-id', 200],
          ['GET', '/whoami', 401],
          ['GET', '/boom', 500],
          ['GET', '/nowhere', 404],
        ])
        expect(lines[0]?.requestId).toBe(requestId)
      })
    })

    it("should take the client's valid X-Request-Id", async () => {
      await withApp(framework, logging({ sink: () => {} }), async (url) => {
        const res = await fetch(`${url}/request-id`, { headers: { 'x-request-id': 'edge-42' } })
        expect(await res.json()).toEqual({ requestId: 'edge-42' })
        expect(res.headers.get('x-request-id')).toBe('edge-42')
      })
    })
  })

  describe(`${name}: @shallot/monitoring`, () => {
    it('should count what the framework answered, by status, and serve /metrics itself', async () => {
      const { layer: counted, finished } = finishedExchanges()
      const layer = stack(counted, monitoring({ defaultMetrics: false }))
      await withApp(framework, layer, async (url) => {
        expect((await fetch(`${url}/hello`)).status).toBe(200)
        expect((await fetch(`${url}/boom`)).status).toBe(500)
        expect((await fetch(`${url}/nowhere`)).status).toBe(404)
        await finished.atLeast(3)
        const res = await fetch(`${url}/metrics`)
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
        const text = await res.text()
        for (const status of [200, 500, 404]) {
          expect(text).toMatch(
            new RegExp(
              `^http_server_requests_total\\{method="GET",status_code="${status}"\\} 1$`,
              'm'
            )
          )
        }
        const health = await fetch(`${url}/healthz`)
        expect(await health.json()).toEqual({ status: 'ok' })
      })
    })
  })

  describe(`${name}: @shallot/session`, () => {
    it("should keep the route's session across requests in a signed cookie", async () => {
      const layer = session({ secret: SECRET, store: new MemoryStore() })
      await withApp(framework, layer, async (url) => {
        const first = await fetch(`${url}/visits`)
        expect(await first.json()).toEqual({ visits: 1 })
        const cookie = first.headers.get('set-cookie') ?? ''
        expect(cookie).toMatch(/^sid=[\w-]+\.[\w-]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/)
        const sid = cookie.split(';')[0] as string
        const second = await fetch(`${url}/visits`, { headers: { cookie: sid } })
        expect(await second.json()).toEqual({ visits: 2 })
        const third = await fetch(`${url}/visits`, { headers: { cookie: sid } })
        expect(await third.json()).toEqual({ visits: 3 })
        // A route that does not touch the session sets no cookie.
        expect((await fetch(`${url}/hello`)).headers.get('set-cookie')).toBeNull()
      })
    })
  })

  describe(`${name}: @shallot/static`, () => {
    it('should serve a file itself, with validators and 304, and pass misses to the framework', async () => {
      const files = serveStatic(PUBLIC_DIR, { prefix: '/static', watch: false })
      try {
        await withApp(framework, files, async (url) => {
          const res = await fetch(`${url}/static/hello.txt`)
          expect(res.status).toBe(200)
          expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
          expect(await res.text()).toBe('hello from a file\n')
          const etag = res.headers.get('etag') ?? ''
          expect(etag).toMatch(/^W\/"/)
          const again = await fetch(`${url}/static/hello.txt`, {
            headers: { 'if-none-match': etag },
          })
          expect(again.status).toBe(304)
          const head = await fetch(`${url}/static/hello.txt`, { method: 'HEAD' })
          expect(head.status).toBe(200)
          expect(head.headers.get('content-length')).toBe('18')
          expect((await fetch(`${url}/static/missing.txt`)).status).toBe(404)
          expect(await (await fetch(`${url}/hello`)).text()).toBe('hello')
        })
      } finally {
        files.close()
      }
    })

    it("should refuse a miss with 404 through the framework's error handling without fallthrough", async () => {
      const files = serveStatic(PUBLIC_DIR, { prefix: '/static', fallthrough: false, watch: false })
      try {
        await withApp(framework, stack(cors({ origin: '*' }), files), async (url) => {
          const res = await fetch(`${url}/static/missing.txt`)
          expect(res.status).toBe(404)
          expect(res.headers.get('access-control-allow-origin')).toBe('*')
          expect(await (await fetch(`${url}/hello`)).text()).toBe('hello')
        })
      } finally {
        files.close()
      }
    })
  })

  describe(`${name}: @shallot/compression`, () => {
    it("should compress the framework's large answer for a client that accepts gzip", async () => {
      await withApp(framework, compression(), async (url) => {
        const zipped = await rawRequest(url, {
          path: '/big',
          headers: { 'accept-encoding': 'gzip' },
        })
        expect(zipped.status).toBe(200)
        expect(zipped.headers['content-encoding']).toBe('gzip')
        expect(zipped.headers.vary).toMatch(/Accept-Encoding/i)
        expect(zipped.raw.length).toBeLessThan(BIG.length / 10)
        expect(gunzipSync(zipped.raw).toString()).toBe(BIG)
        const plain = await rawRequest(url, { path: '/big' })
        expect(plain.headers['content-encoding']).toBeUndefined()
        expect(plain.body).toBe(BIG)
        const small = await rawRequest(url, {
          path: '/hello',
          headers: { 'accept-encoding': 'gzip' },
        })
        expect(small.headers['content-encoding']).toBeUndefined()
        expect(small.body).toBe('hello')
      })
    })
  })

  describe(`${name}: a whole stack`, () => {
    it('should run logging, timing, monitoring, compression, CORS, session, auth and static as one layer', async () => {
      const records = new Collector<LogRecord>()
      const { layer: counted, finished } = finishedExchanges()
      const files = serveStatic(PUBLIC_DIR, { prefix: '/static', watch: false })
      const monitor = monitoring({ defaultMetrics: false })
      const app = stack(
        counted,
        logging({ format: 'json', sink: (_line, record) => records.push(record) }),
        timing(),
        monitor,
        compression(),
        cors({ origin: [ORIGIN], credentials: true }),
        session({ secret: SECRET }),
        apiKey({ keys: { 'k-ci': 'ci' }, paths: ['/whoami'] }),
        files
      )
      try {
        await withApp(framework, app, async (url) => {
          const headers = { origin: ORIGIN }
          const denied = await fetch(`${url}/whoami`, { headers })
          expect(denied.status).toBe(401)
          const who = await fetch(`${url}/whoami`, { headers: { ...headers, ...key } })
          expect(await who.json()).toEqual({ principal: 'ci', scheme: 'apiKey' })
          const visit = await fetch(`${url}/visits`, { headers })
          expect(await visit.json()).toEqual({ visits: 1 })
          expect(visit.headers.get('set-cookie')).toMatch(/^sid=/)
          const file = await fetch(`${url}/static/hello.txt`, { headers })
          expect(await file.text()).toBe('hello from a file\n')
          const boom = await fetch(`${url}/boom`, { headers })
          expect(boom.status).toBe(500)
          const big = await rawRequest(url, {
            path: '/big',
            headers: { ...headers, 'accept-encoding': 'gzip' },
          })
          expect(gunzipSync(big.raw).toString()).toBe(BIG)
          for (const res of [denied, who, visit, file, boom]) {
            expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
            expect(res.headers.get('access-control-allow-credentials')).toBe('true')
            expect(res.headers.get('x-response-time')).toMatch(/ms$/)
          }
          expect(big.headers['access-control-allow-origin']).toBe(ORIGIN)
          expect(denied.headers.get('www-authenticate')).toMatch(/^ApiKey /)
          await finished.atLeast(6)
          const lines = await records.atLeast(6)
          expect(lines.map((r) => `${r.url} ${r.status}`).sort()).toEqual([
            '/big 200',
            '/boom 500',
            '/static/hello.txt 200',
            '/visits 200',
            '/whoami 200',
            '/whoami 401',
          ])
          const stats = await monitor.stats()
          expect(stats.requests.total).toBe(6)
          expect(stats.requests.errors).toBe(1)
        })
      } finally {
        files.close()
      }
    })
  })
}
