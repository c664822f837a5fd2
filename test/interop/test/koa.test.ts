import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { apiKey, getAuthScheme, getPrincipal } from '@shallot/auth'
import { compression } from '@shallot/compression'
import { cors } from '@shallot/cors'
import { getRequestId, logging } from '@shallot/logging'
import { getSession, MemoryStore, session } from '@shallot/session'
import { fromConnect, HttpError, mount, stack, toKoa } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { failOnUnhandledRejections, listen, rawRequest } from '@shallot/test-utils'
import { getTiming, timing } from '@shallot/timing'
import Koa from 'koa'
import { describe, expect, it } from 'vitest'
import {
  BIG,
  Collector,
  describeShallotLayers,
  type Framework,
  ORIGIN,
  PUBLIC_DIR,
  SECRET,
  type Served,
} from './suite.js'

failOnUnhandledRejections()

/** The standard routes, the Koa way: one middleware reading `ctx.req` for the accessors. */
const routes: Koa.Middleware = async (ctx) => {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return
  switch (ctx.path) {
    case '/hello':
      ctx.type = 'text/plain'
      ctx.body = 'hello'
      return
    case '/whoami':
      ctx.body = {
        principal: getPrincipal(ctx.req) ?? null,
        scheme: getAuthScheme(ctx.req) ?? null,
      }
      return
    case '/visits': {
      const s = getSession<{ visits: number }>(ctx.req)
      const visits = (s.get('visits') ?? 0) + 1
      s.set('visits', visits)
      ctx.body = { visits }
      return
    }
    case '/request-id':
      ctx.body = { requestId: getRequestId(ctx.req) ?? null }
      return
    case '/timed':
      getTiming(ctx.req).add('db', { dur: 12.5, desc: 'query' })
      ctx.type = 'text/plain'
      ctx.body = 'timed'
      return
    case '/boom':
      throw new Error('route failed')
    case '/big':
      ctx.type = 'text/plain'
      ctx.body = BIG
      return
  }
}

/** A real Koa 3 app; errors Koa handles are collected instead of logged. */
function koaApp(...middleware: Koa.Middleware[]): { app: Koa; errors: Collector<unknown> } {
  const app = new Koa()
  const errors = new Collector<unknown>()
  app.on('error', errors.push)
  for (const mw of middleware) app.use(mw)
  return { app, errors }
}

const framework: Framework = {
  name: 'Koa 3',
  serve: (layer) => listen(koaApp(toKoa(layer), routes).app.callback()),
}

describeShallotLayers(framework)

async function serve(app: Koa): Promise<Served> {
  return listen(app.callback())
}

describe('Koa 3: toKoa and the rest of the Koa chain', () => {
  it('should tell upstream Koa middleware that a Shallot layer answered (ctx.respond, ctx.status)', async () => {
    const seen: string[] = []
    const files = serveStatic(PUBLIC_DIR, { prefix: '/static', watch: false })
    const { app, errors } = koaApp(
      async (ctx, next) => {
        await next()
        seen.push(`${ctx.path} ${ctx.status} respond=${String(ctx.respond)}`)
      },
      toKoa(stack(cors({ origin: [ORIGIN] }), files)),
      routes
    )
    const server = await serve(app)
    try {
      const preflight = await fetch(`${server.url}/hello`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'PUT' },
      })
      expect(preflight.status).toBe(204)
      expect(await preflight.text()).toBe('')
      const file = await fetch(`${server.url}/static/hello.txt`)
      expect(await file.text()).toBe('hello from a file\n')
      const route = await fetch(`${server.url}/hello`)
      expect(await route.text()).toBe('hello')
      expect(seen).toEqual([
        '/hello 204 respond=false',
        '/static/hello.txt 200 respond=false',
        '/hello 200 respond=undefined',
      ])
      expect(errors.items).toEqual([])
    } finally {
      files.close()
      await server.close()
    }
  })

  it("should hand a layer's refusal to a Koa error middleware upstream, onHeaders headers kept", async () => {
    const { app, errors } = koaApp(
      async (ctx, next) => {
        try {
          await next()
        } catch (err) {
          const e = err as HttpError
          ctx.status = e.status
          ctx.set(e.headers as Record<string, string>)
          ctx.body = { error: e.message }
        }
      },
      toKoa(stack(timing(), cors({ origin: [ORIGIN] }), apiKey({ keys: ['k'] }))),
      routes
    )
    const server = await serve(app)
    try {
      const res = await fetch(`${server.url}/hello`, { headers: { origin: ORIGIN } })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ error: 'Authentication required' })
      expect(res.headers.get('www-authenticate')).toMatch(/^ApiKey /)
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(res.headers.get('x-response-time')).toMatch(/ms$/)
      expect(errors.items).toEqual([])
    } finally {
      await server.close()
    }
  })

  it("should render a layer's refusal with Koa's default handler: status, message, challenge", async () => {
    const { app, errors } = koaApp(toKoa(apiKey({ keys: ['k'] })), routes)
    const server = await serve(app)
    try {
      const res = await fetch(`${server.url}/hello`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(
        'ApiKey realm="Restricted", header="x-api-key"'
      )
      expect(await res.text()).toBe('Authentication required')
      expect(errors.items).toHaveLength(1)
      expect(errors.items[0]).toBeInstanceOf(HttpError)
    } finally {
      await server.close()
    }
  })

  it("should give Koa its route's error once, past a whole stack", async () => {
    const stackErrors: unknown[] = []
    const { app, errors } = koaApp(
      toKoa(stack({ onError: (e) => stackErrors.push(e) }, timing(), session({ secret: SECRET }))),
      routes
    )
    const server = await serve(app)
    try {
      const res = await fetch(`${server.url}/boom`)
      expect(res.status).toBe(500)
      expect(await res.text()).toBe('Internal Server Error')
      expect(res.headers.get('x-response-time')).toMatch(/ms$/)
      const [err] = await errors.atLeast(1)
      expect((err as Error).message).toBe('route failed')
      expect(errors.items).toHaveLength(1)
      expect(stackErrors).toEqual([])
    } finally {
      await server.close()
    }
  })

  it("should add the layers' onHeaders headers to the error Koa writes after clearing every header", async () => {
    const { app } = koaApp(
      toKoa(stack(timing(), cors({ origin: [ORIGIN] }), apiKey({ keys: ['k'] }))),
      routes
    )
    const server = await serve(app)
    try {
      const res = await fetch(`${server.url}/boom`, {
        headers: { origin: ORIGIN, 'x-api-key': 'k' },
      })
      expect(res.status).toBe(500)
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(res.headers.get('x-response-time')).toMatch(/ms$/)
      expect(res.headers.get('cache-control')).toBe('private')
      expect(res.headers.get('vary')).toBe('x-api-key, Origin')
    } finally {
      await server.close()
    }
  })

  it("should write the session changes of a route that then threw: the error is Koa's, not the stack's", async () => {
    const store = new MemoryStore()
    const { app } = koaApp(toKoa(session({ secret: SECRET, store })), (ctx) => {
      getSession(ctx.req).set('cart', ['apple'])
      throw new Error('after the change')
    })
    const server = await serve(app)
    try {
      const res = await fetch(`${server.url}/checkout`)
      expect(res.status).toBe(500)
      expect(res.headers.get('set-cookie')).toMatch(/^sid=/)
      expect(await store.length()).toBe(1)
    } finally {
      await server.close()
    }
  })

  it('should time, compress and log a streamed Koa body when it has ended', async () => {
    const lines = new Collector<string>()
    const { app } = koaApp(
      toKoa(
        stack(
          logging({ format: ':method :url :status', sink: lines.push }),
          timing(),
          compression()
        )
      ),
      (ctx) => {
        ctx.type = 'text/plain'
        ctx.body = Readable.from([BIG.slice(0, 5000), BIG.slice(5000)])
      }
    )
    const server = await serve(app)
    try {
      const res = await rawRequest(server.url, {
        path: '/stream',
        headers: { 'accept-encoding': 'gzip' },
      })
      expect(res.status).toBe(200)
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(res.headers['x-response-time']).toMatch(/ms$/)
      expect(gunzipSync(res.raw).toString()).toBe(BIG)
      expect(await lines.atLeast(1)).toEqual(['GET /stream 200'])
    } finally {
      await server.close()
    }
  })

  it('should wait for a Connect middleware that passes on after a callback (fromConnect)', async () => {
    const slowLookup = (
      req: IncomingMessage & { user?: string },
      _res: unknown,
      next: () => void
    ) => {
      setTimeout(() => {
        req.user = 'from-callback'
        next()
      }, 5)
    }
    const { app } = koaApp(toKoa(stack(timing(), fromConnect(slowLookup))), (ctx) => {
      ctx.body = { user: (ctx.req as { user?: string }).user ?? null }
    })
    const server = await serve(app)
    try {
      const res = await fetch(`${server.url}/`)
      expect(await res.json()).toEqual({ user: 'from-callback' })
      expect(res.headers.get('server-timing')).toMatch(/^total;dur=/)
    } finally {
      await server.close()
    }
  })

  it('should route Koa on the path the layers decided on, and refuse a path they cannot read', async () => {
    const { app, errors } = koaApp(toKoa(mount('/api', apiKey({ keys: { k: 'ci' } }))), (ctx) => {
      ctx.body = { path: ctx.path, principal: getPrincipal(ctx.req) ?? null }
    })
    const server = await serve(app)
    try {
      const sneaky = await rawRequest(server.url, { path: '/x/../%61pi/me' })
      expect(sneaky.status).toBe(401)
      const ok = await rawRequest(server.url, {
        path: '/x/../%61pi/me',
        headers: { 'x-api-key': 'k' },
      })
      // mount restored the URL for Koa, in the canonical form it checked.
      expect(JSON.parse(ok.body)).toEqual({ path: '/api/me', principal: 'ci' })
      const open = await rawRequest(server.url, { path: '/apix' })
      expect(JSON.parse(open.body)).toEqual({ path: '/apix', principal: null })
      const unreadable = await rawRequest(server.url, { path: '/api%2Fme' })
      expect(unreadable.status).toBe(400)
      expect(errors.items.map((e) => (e as HttpError).status)).toEqual([401, 400])
    } finally {
      await server.close()
    }
  })

  it('should answer HEAD for a static file without Koa adding a body', async () => {
    const files = serveStatic(PUBLIC_DIR, { watch: false })
    const { app } = koaApp(toKoa(files), routes)
    const server = await serve(app)
    try {
      const head = await rawRequest(server.url, { method: 'HEAD', path: '/hello.txt' })
      expect(head.status).toBe(200)
      expect(head.headers['content-length']).toBe('18')
      expect(head.body).toBe('')
    } finally {
      files.close()
      await server.close()
    }
  })
})

describe('Koa 3: error pages', () => {
  // Koa's ctx.onerror removes every header before it writes an error: @shallot/logging sets
  // X-Request-Id as the head is written (onHeaders), like CORS and timing, so it survives.
  it('should keep X-Request-Id on the error responses Koa writes', async () => {
    const { app } = koaApp(
      toKoa(stack(logging({ sink: () => {} }), apiKey({ keys: ['k'] }))),
      routes
    )
    const server = await serve(app)
    try {
      const ok = await fetch(`${server.url}/hello`, { headers: { 'x-api-key': 'k' } })
      expect(ok.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      const denied = await fetch(`${server.url}/hello`)
      expect(denied.status).toBe(401)
      expect(denied.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    } finally {
      await server.close()
    }
  })
})
