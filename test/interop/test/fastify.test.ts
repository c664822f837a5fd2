import type { AddressInfo } from 'node:net'
import middie from '@fastify/middie'
import { apiKey, getAuthScheme, getPrincipal } from '@shallot/auth'
import { cors } from '@shallot/cors'
import { getRequestId } from '@shallot/logging'
import { getSession } from '@shallot/session'
import { HttpError, type Middleware, onHeaders, stack, toConnect } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { getTiming, timing } from '@shallot/timing'
import Fastify, { type FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import {
  BIG,
  Collector,
  describeShallotLayers,
  type Framework,
  ORIGIN,
  PUBLIC_DIR,
  type Served,
} from './suite.js'

failOnUnhandledRejections()

/**
 * A real Fastify 5 app: @fastify/middie runs the Shallot layer (through toConnect) in
 * Fastify's onRequest hook, on `request.raw`/`reply.raw`; routes are ordinary Fastify routes.
 */
async function fastifyApp(
  layer: Middleware,
  configure?: (app: FastifyInstance) => void
): Promise<FastifyInstance> {
  const app = Fastify({ forceCloseConnections: true })
  await app.register(middie)
  app.use(toConnect(layer))
  configure?.(app)
  app.get('/hello', async (_request, reply) => {
    reply.type('text/plain')
    return 'hello'
  })
  app.get('/whoami', async (request) => ({
    principal: getPrincipal(request.raw) ?? null,
    scheme: getAuthScheme(request.raw) ?? null,
  }))
  app.get('/visits', async (request) => {
    const s = getSession<{ visits: number }>(request.raw)
    const visits = (s.get('visits') ?? 0) + 1
    s.set('visits', visits)
    return { visits }
  })
  app.get('/request-id', async (request) => ({ requestId: getRequestId(request.raw) ?? null }))
  app.get('/timed', async (request, reply) => {
    getTiming(request.raw).add('db', { dur: 12.5, desc: 'query' })
    reply.type('text/plain')
    return 'timed'
  })
  app.get('/boom', async () => {
    throw new Error('route failed')
  })
  app.get('/big', async (_request, reply) => {
    reply.type('text/plain')
    return BIG
  })
  return app
}

/** Fastify's own server on an OS-chosen port. */
async function start(app: FastifyInstance): Promise<Served> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() }
}

const framework: Framework = {
  name: 'Fastify 5',
  serve: async (layer) => start(await fastifyApp(layer)),
}

describeShallotLayers(framework)

describe('Fastify 5: the request lifecycle around a Shallot layer', () => {
  it("should still run Fastify's onResponse hooks for answers a Shallot layer wrote itself", async () => {
    const responses = new Collector<string>()
    const files = serveStatic(PUBLIC_DIR, { prefix: '/static', watch: false })
    const app = await fastifyApp(
      stack(cors({ origin: [ORIGIN] }), apiKey({ keys: ['k'], paths: ['/whoami'] }), files)
    )
    app.addHook('onResponse', async (request, reply) => {
      responses.push(`${request.method} ${request.url} ${reply.statusCode}`)
    })
    const served = await start(app)
    try {
      const preflight = await fetch(`${served.url}/hello`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'PUT' },
      })
      expect(preflight.status).toBe(204)
      await responses.atLeast(1)
      expect((await fetch(`${served.url}/static/hello.txt`)).status).toBe(200)
      await responses.atLeast(2)
      expect((await fetch(`${served.url}/whoami`)).status).toBe(401)
      await responses.atLeast(3)
      expect((await fetch(`${served.url}/hello`)).status).toBe(200)
      expect(await responses.atLeast(4)).toEqual([
        'OPTIONS /hello 204',
        'GET /static/hello.txt 200',
        'GET /whoami 401',
        'GET /hello 200',
      ])
    } finally {
      files.close()
      await served.close()
    }
  })

  it("should give a layer's refusal to Fastify's error handler, with its status and headers", async () => {
    const seen: unknown[] = []
    const app = await fastifyApp(stack(cors({ origin: [ORIGIN] }), apiKey({ keys: ['k'] })), (f) =>
      // Routes take the error handler in force where they are declared: set it first.
      f.setErrorHandler(async (error, _request, reply) => {
        seen.push(error)
        const status = (error as { statusCode?: number }).statusCode ?? 500
        reply.code(status)
        return { refused: status }
      })
    )
    const served = await start(app)
    try {
      const res = await fetch(`${served.url}/hello`, { headers: { origin: ORIGIN } })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ refused: 401 })
      // error.headers are applied by Fastify only in its default handler: ours set none.
      expect(res.headers.get('www-authenticate')).toBeNull()
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(seen[0]).toBeInstanceOf(HttpError)
    } finally {
      await served.close()
    }
  })

  it("should answer with Fastify's default error body and the challenge header", async () => {
    await withServed(apiKey({ keys: ['k'] }), async (url) => {
      const res = await fetch(`${url}/hello`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(
        'ApiKey realm="Restricted", header="x-api-key"'
      )
      expect(await res.json()).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'Authentication required',
      })
    })
  })

  it('should let onHeaders listeners see the headers Fastify passes to writeHead', async () => {
    const seen: unknown[] = []
    const app = await fastifyApp((next) => (req, res) => {
      onHeaders(res, () => {
        seen.push(res.getHeader('x-from-route'))
        res.setHeader('x-route-said', String(res.getHeader('x-from-route')))
      })
      return next(req, res)
    })
    app.get('/with-header', async (_request, reply) => {
      reply.header('x-from-route', 'fastify')
      return 'ok'
    })
    const served = await start(app)
    try {
      const res = await fetch(`${served.url}/with-header`)
      expect(res.headers.get('x-route-said')).toBe('fastify')
      expect(seen).toEqual(['fastify'])
    } finally {
      await served.close()
    }
  })

  it('should run a layer registered on a path prefix only there', async () => {
    const app = Fastify({ forceCloseConnections: true })
    await app.register(middie)
    app.use('/api', toConnect(stack(timing(), apiKey({ keys: { k: 'ci' } }))))
    app.get('/api/items', async (request) => {
      getTiming(request.raw).add('db', { dur: 2 })
      return { who: getPrincipal(request.raw) ?? null, url: request.url }
    })
    app.get('/open', async () => 'open')
    const served = await start(app)
    try {
      expect((await fetch(`${served.url}/api/items`)).status).toBe(401)
      const ok = await fetch(`${served.url}/api/items?x=1`, { headers: { 'x-api-key': 'k' } })
      expect(await ok.json()).toEqual({ who: 'ci', url: '/api/items?x=1' })
      expect(ok.headers.get('server-timing')).toMatch(/, db;dur=2\.000$/)
      const open = await fetch(`${served.url}/open`)
      expect(await open.text()).toBe('open')
      expect(open.headers.get('server-timing')).toBeNull()
    } finally {
      await served.close()
    }
  })
})

describe('Fastify 5: path-scoped auth against the router', () => {
  const shapes = [
    '/api/me',
    '//api/me',
    '/api//me',
    '/api/me/',
    '/./api/me',
    '/x/../api/me',
    '/%61pi/me',
    '/api/%6De',
    '/API/me',
    '/Api/Me',
    '/api;x/me',
    '/api/me;x',
    '/api/me?x=1',
    'http://localhost/api/me',
  ]

  async function leaks(
    routerOptions: Record<string, boolean>,
    guard: (app: FastifyInstance) => void
  ): Promise<string[]> {
    const app = Fastify({ forceCloseConnections: true, routerOptions })
    await app.register(middie)
    guard(app)
    app.get('/api/me', async () => 'the secret')
    const served = await start(app)
    try {
      const leaked: string[] = []
      for (const path of shapes) {
        const res = await rawRequest(served.url, { path })
        if (res.status === 200 || res.body.includes('the secret')) leaked.push(path)
      }
      const ok = await rawRequest(served.url, { path: '/api/me', headers: { 'x-api-key': 'k' } })
      expect(ok.body).toBe('the secret')
      return leaked
    } finally {
      await served.close()
    }
  }

  it("should let no request shape reach the route without a key, with Fastify's routing defaults", async () => {
    expect(
      await leaks({}, (app) => app.use(toConnect(apiKey({ keys: ['k'], paths: ['/api'] }))))
    ).toEqual([])
    expect(await leaks({}, (app) => app.use('/api', toConnect(apiKey({ keys: ['k'] }))))).toEqual(
      []
    )
    const lenient = {
      ignoreDuplicateSlashes: true,
      ignoreTrailingSlash: true,
      useSemicolonDelimiter: true,
    }
    expect(
      await leaks(lenient, (app) => app.use(toConnect(apiKey({ keys: ['k'], paths: ['/api'] }))))
    ).toEqual([])
  })

  it('should need caseSensitive: false on the layer when the router ignores case', async () => {
    const caseless = { caseSensitive: false }
    // Documented in @shallot/auth (option caseSensitive): the router and the layer must agree.
    expect(
      await leaks(caseless, (app) => app.use(toConnect(apiKey({ keys: ['k'], paths: ['/api'] }))))
    ).toEqual(['/API/me', '/Api/Me'])
    expect(
      await leaks(caseless, (app) =>
        app.use(toConnect(apiKey({ keys: ['k'], paths: ['/api'], caseSensitive: false })))
      )
    ).toEqual([])
  })
})

async function withServed(layer: Middleware, fn: (url: string) => Promise<void>): Promise<void> {
  const served = await framework.serve(layer)
  try {
    await fn(served.url)
  } finally {
    await served.close()
  }
}
