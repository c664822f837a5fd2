import { type Handler, HttpError, type Middleware } from '@shallot/stack'
import { failOnUnhandledRejections, type Listening } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type CorsOptions, type CorsRefusalReason, cors } from '../src/index.js'
import { corsHeaders, counting, preflight, send, serve, withServing } from './helpers.js'

failOnUnhandledRejections()

const A = 'https://app.example.com'

const withServer = (
  options: CorsOptions,
  fn: (server: Listening, handler: ReturnType<typeof counting>) => Promise<void>,
  extra: Middleware[] = []
): Promise<void> => withServing([cors(options), ...extra], counting(), fn)

describe('cors: preflight', () => {
  it('should answer a preflight with the defaults, without calling the handler', async () => {
    await withServer({}, async (server, handler) => {
      const res = await preflight(server, A, 'PUT', {
        'access-control-request-headers': 'X-Custom, content-type',
      })
      expect(res.status).toBe(204)
      expect(res.body).toBe('')
      expect(res.headers['access-control-allow-origin']).toBe('*')
      expect(res.headers['access-control-allow-methods']).toBe(
        'GET, HEAD, PUT, PATCH, POST, DELETE'
      )
      expect(res.headers['access-control-allow-headers']).toBe('x-custom, content-type')
      expect(res.headers['access-control-allow-credentials']).toBeUndefined()
      expect(res.headers['access-control-max-age']).toBeUndefined()
      expect(res.headers['access-control-expose-headers']).toBeUndefined()
      expect(res.headers.vary).toBe('Access-Control-Request-Headers')
      expect(handler.calls).toBe(0)
    })
  })

  it('should reflect each requested list right, however many distinct lists arrive', async () => {
    // Reflections are remembered by raw value in a bounded cache (cleared when full): past
    // its bound, and for lists too long to remember, every answer must still be exact.
    await withServer({}, async (server) => {
      for (let i = 0; i < 300; i++) {
        const res = await preflight(server, A, 'PUT', {
          'access-control-request-headers': `X-One-${i},content-type`,
        })
        expect(res.headers['access-control-allow-headers']).toBe(`x-one-${i}, content-type`)
      }
      const long = Array.from({ length: 40 }, (_, i) => `x-header-number-${i}`).join(',')
      const res = await preflight(server, A, 'PUT', { 'access-control-request-headers': long })
      expect(res.headers['access-control-allow-headers']).toBe(long.replaceAll(',', ', '))
      const bad = await preflight(server, A, 'PUT', { 'access-control-request-headers': 'a b' })
      expect(bad.headers['access-control-allow-headers']).toBeUndefined()
      const again = await preflight(server, A, 'PUT', { 'access-control-request-headers': 'a b' })
      expect(again.headers['access-control-allow-headers']).toBeUndefined()
    })
  })

  it('should pass a plain OPTIONS (no Access-Control-Request-Method) to the handler', async () => {
    await withServer({ origin: [A] }, async (server, handler) => {
      const res = await send(server, { origin: A }, 'OPTIONS')
      expect(res.status).toBe(200)
      expect(res.body).toBe('ok')
      expect(handler.calls).toBe(1)
      expect(res.headers['access-control-allow-origin']).toBe(A)
      expect(res.headers['access-control-allow-methods']).toBeUndefined()
      // and an OPTIONS with Access-Control-Request-Method but no Origin is not a preflight
      const noOrigin = await send(server, { 'access-control-request-method': 'PUT' }, 'OPTIONS')
      expect(noOrigin.body).toBe('ok')
      expect(handler.calls).toBe(2)
    })
  })

  it('should send methods, allowedHeaders and maxAge as configured', async () => {
    await withServer(
      {
        origin: A,
        methods: 'GET,POST, patch',
        allowedHeaders: ['Content-Type', 'X-Token'],
        maxAge: 600,
      },
      async (server) => {
        const res = await preflight(server, A, 'patch', {
          'access-control-request-headers': 'x-other',
        })
        expect(res.headers['access-control-allow-methods']).toBe('GET, POST, patch')
        expect(res.headers['access-control-allow-headers']).toBe('Content-Type, X-Token')
        expect(res.headers['access-control-max-age']).toBe('600')
        expect(res.headers.vary).toBe('Origin')
      }
    )
    await withServer({ maxAge: 0, allowedHeaders: [] }, async (server) => {
      const res = await preflight(server, A, 'PUT', { 'access-control-request-headers': 'x-a' })
      expect(res.headers['access-control-max-age']).toBe('0')
      expect(res.headers['access-control-allow-headers']).toBeUndefined()
      expect(res.headers.vary).toBeUndefined()
    })
  })

  it('should not reflect requested headers that are not tokens', async () => {
    await withServer({}, async (server) => {
      for (const bad of ['x-a, x b', 'x-a, (x)', 'x-a,\tx:y']) {
        const res = await preflight(server, A, 'PUT', { 'access-control-request-headers': bad })
        expect(res.status).toBe(204)
        expect(res.headers['access-control-allow-headers']).toBeUndefined()
      }
      const ok = await preflight(server, A, 'PUT', {
        'access-control-request-headers': ' x-a ,, X-B,x-a ',
      })
      expect(ok.headers['access-control-allow-headers']).toBe('x-a, x-b')
    })
  })

  it('should reflect up to 64 distinct names, however often they repeat', async () => {
    const names = Array.from({ length: 64 }, (_, i) => `x-${i}`)
    await withServer({}, async (server) => {
      // 64 distinct names, then all of them again: still 64, reflected once each.
      const twice = await preflight(server, A, 'PUT', {
        'access-control-request-headers': [...names, ...names].join(','),
      })
      expect(twice.headers['access-control-allow-headers']).toBe(names.join(', '))
      // A 65th distinct name is over the cap: no list, and the browser fails the request.
      const over = await preflight(server, A, 'PUT', {
        'access-control-request-headers': [...names, 'x-64'].join(','),
      })
      expect(over.status).toBe(204)
      expect(over.headers['access-control-allow-headers']).toBeUndefined()
    })
  })

  it('should use optionsSuccessStatus, with Content-Length: 0 when it is not 204', async () => {
    await withServer({ optionsSuccessStatus: 200 }, async (server) => {
      const res = await preflight(server, A)
      expect(res.status).toBe(200)
      expect(res.headers['content-length']).toBe('0')
      expect(res.body).toBe('')
    })
  })

  it('should hand the preflight to the handler with preflightContinue, headers set', async () => {
    const handler: Handler = (req, res) => {
      res.statusCode = req.method === 'OPTIONS' ? 200 : 500
      res.end('from handler')
    }
    const server = await serve(cors({ origin: [A], preflightContinue: true, maxAge: 5 }), handler)
    try {
      const res = await preflight(server, A)
      expect(res.status).toBe(200)
      expect(res.body).toBe('from handler')
      expect(res.headers['access-control-allow-origin']).toBe(A)
      expect(res.headers['access-control-allow-methods']).toContain('PUT')
      expect(res.headers['access-control-max-age']).toBe('5')
      const refused = await preflight(server, 'https://evil.example')
      expect(refused.body).toBe('from handler')
      expect(corsHeaders(refused)).toEqual([])
      expect(refused.headers.vary).toBe('Origin')
    } finally {
      await server.close()
    }
  })

  it('should answer a refused preflight with no CORS headers, or 403 when strict', async () => {
    await withServer({ origin: [A] }, async (server, handler) => {
      const res = await preflight(server, 'https://evil.example')
      expect(res.status).toBe(204)
      expect(corsHeaders(res)).toEqual([])
      expect(res.headers.vary).toBe('Origin')
      expect(handler.calls).toBe(0)
    })
    await withServer({ origin: [A], strict: true }, async (server, handler) => {
      const res = await preflight(server, 'https://evil.example')
      expect(res.status).toBe(403)
      expect(corsHeaders(res)).toEqual([])
      expect(res.headers.vary).toBe('Origin')
      expect(handler.calls).toBe(0)
      const ok = await preflight(server, A)
      expect(ok.status).toBe(204)
    })
  })

  it('should answer preflights before an auth layer inside it', async () => {
    const auth: Middleware = (next) => (req, res) => {
      if (req.headers.authorization !== 'Bearer ok') throw new HttpError(401)
      return next(req, res)
    }
    await withServer(
      { origin: [A], credentials: true, allowedHeaders: ['Authorization'] },
      async (server) => {
        const pre = await preflight(server, A, 'GET', {
          'access-control-request-headers': 'authorization',
        })
        expect(pre.status).toBe(204)
        expect(pre.headers['access-control-allow-headers']).toBe('Authorization')
        // the 401 of the layer inside still carries the CORS headers, so the page can read it
        const denied = await send(server, { origin: A })
        expect(denied.status).toBe(401)
        expect(denied.headers['access-control-allow-origin']).toBe(A)
        expect(denied.headers['access-control-allow-credentials']).toBe('true')
      },
      [auth]
    )
  })
})

describe('cors: private network access', () => {
  it('should allow private network access only when privateNetwork is set', async () => {
    const refusals: CorsRefusalReason[] = []
    const pna = { 'access-control-request-private-network': 'true' }
    await withServer({ origin: [A], privateNetwork: true }, async (server) => {
      const res = await preflight(server, A, 'GET', pna)
      expect(res.headers['access-control-allow-private-network']).toBe('true')
      expect(res.headers.vary).toBe(
        'Origin, Access-Control-Request-Headers, Access-Control-Request-Private-Network'
      )
      const plain = await preflight(server, A, 'GET')
      expect(plain.headers['access-control-allow-private-network']).toBeUndefined()
      const refused = await preflight(server, 'https://evil.example', 'GET', pna)
      expect(corsHeaders(refused)).toEqual([])
    })
    await withServer(
      { origin: [A], onRefused: (reason) => refusals.push(reason) },
      async (server) => {
        const res = await preflight(server, A, 'GET', pna)
        expect(res.status).toBe(204)
        expect(res.headers['access-control-allow-origin']).toBe(A)
        expect(res.headers['access-control-allow-private-network']).toBeUndefined()
      }
    )
    expect(refusals).toEqual(['private-network-not-allowed'])
  })
})
