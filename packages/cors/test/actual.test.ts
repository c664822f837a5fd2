import { type Handler, HttpError, stack } from '@shallot/stack'
import { failOnUnhandledRejections, type Listening, listen } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type CorsOptions, type CorsRefusalReason, cors } from '../src/index.js'
import { corsHeaders, count, counting, preflight, send, withServing } from './helpers.js'

failOnUnhandledRejections()

const A = 'https://app.example.com'

const withServer = (
  options: CorsOptions,
  handler: Handler,
  fn: (server: Listening) => Promise<void>
): Promise<void> => withServing(cors(options), handler, fn)

describe("cors: origin '*' (the default)", () => {
  it('should answer * to every request, with no Vary', async () => {
    await withServer({}, counting(), async (server) => {
      for (const headers of [{ origin: A }, {}] as Record<string, string>[]) {
        const res = await send(server, headers)
        expect(res.status).toBe(200)
        expect(res.headers['access-control-allow-origin']).toBe('*')
        expect(res.headers['access-control-allow-credentials']).toBeUndefined()
        expect(res.headers.vary).toBeUndefined()
      }
    })
  })
})

describe('cors: actual requests from an allowlist', () => {
  it('should add no CORS headers but Vary: Origin to a request without Origin', async () => {
    await withServer({ origin: [A], exposedHeaders: ['X-Id'] }, counting(), async (server) => {
      const res = await send(server)
      expect(corsHeaders(res)).toEqual([])
      expect(res.headers.vary).toBe('Origin')
    })
  })

  it('should expose headers on actual responses only', async () => {
    await withServer(
      { origin: [A], exposedHeaders: 'X-Id, X-Total' },
      counting(),
      async (server) => {
        const res = await send(server, { origin: A })
        expect(res.headers['access-control-expose-headers']).toBe('X-Id, X-Total')
        const pre = await preflight(server, A)
        expect(pre.headers['access-control-expose-headers']).toBeUndefined()
        const refused = await send(server, { origin: 'https://evil.example' })
        expect(refused.headers['access-control-expose-headers']).toBeUndefined()
      }
    )
  })

  it('should let a refused origin through without CORS headers (the browser enforces)', async () => {
    const handler = counting()
    const refusals: [CorsRefusalReason, string][] = []
    await withServer(
      { origin: [A], credentials: true, onRefused: (r, o) => refusals.push([r, o]) },
      handler,
      async (server) => {
        const res = await send(server, { origin: 'https://evil.example' })
        expect(res.status).toBe(200)
        expect(res.body).toBe('ok')
        expect(corsHeaders(res)).toEqual([])
        expect(res.headers.vary).toBe('Origin')
        expect(handler.calls).toBe(1)
      }
    )
    expect(refusals).toEqual([['origin-not-allowed', 'https://evil.example']])
  })

  it('should answer 403 to a refused origin when strict, and never send the reason', async () => {
    const handler = counting()
    const refusals: CorsRefusalReason[] = []
    await withServer(
      { origin: [A], strict: true, onRefused: (r) => refusals.push(r) },
      handler,
      async (server) => {
        const res = await send(server, { origin: 'https://evil.example' })
        expect(res.status).toBe(403)
        expect(res.body).toBe('Origin not allowed\n')
        expect(res.body).not.toContain('origin-not-allowed')
        expect(corsHeaders(res)).toEqual([])
        expect(res.headers.vary).toBe('Origin')
        const json = await send(server, { origin: 'null', accept: 'application/json' })
        expect(json.status).toBe(403)
        expect(JSON.parse(json.body)).toEqual({
          statusCode: 403,
          error: 'Forbidden',
          message: 'Origin not allowed',
        })
        // requests without Origin and allowed origins are not affected
        expect((await send(server)).status).toBe(200)
        expect((await send(server, { origin: A })).status).toBe(200)
        expect(handler.calls).toBe(2)
      }
    )
    expect(refusals).toEqual(['origin-not-allowed', 'null-origin'])
  })

  it('should send an onRefused that throws to the error boundary', async () => {
    await withServer(
      {
        origin: [A],
        onRefused: () => {
          throw new Error('metrics down')
        },
      },
      counting(),
      async (server) => {
        const res = await send(server, { origin: 'https://evil.example' })
        expect(res.status).toBe(500)
        expect(res.body).not.toContain('metrics down')
      }
    )
  })
})

describe('cors: Vary', () => {
  it("should merge with the handler's Vary, never duplicate, never clobber", async () => {
    const handler: Handler = (req, res) => {
      if (req.url === '/set') res.setHeader('Vary', 'Accept-Encoding')
      if (req.url === '/dup') res.setHeader('Vary', 'origin, Accept')
      if (req.url === '/star') res.setHeader('Vary', '*')
      if (req.url === '/head') {
        res.writeHead(200, { Vary: 'Cookie' })
        res.end('ok')
        return
      }
      res.end('ok')
    }
    await withServer({ origin: [A] }, handler, async (server) => {
      const vary = async (path: string) => {
        const res = await send(server, { origin: A }, 'GET', path)
        expect(count(res, 'vary')).toBe(1)
        return res.headers.vary
      }
      expect(await vary('/set')).toBe('Accept-Encoding, Origin')
      expect(await vary('/dup')).toBe('origin, Accept')
      expect(await vary('/star')).toBe('*')
      expect(await vary('/head')).toBe('Cookie, Origin')
    })
  })

  it('should merge with a Vary set by an outer layer on a preflight', async () => {
    const server = await listen(
      stack(
        (next) => (req, res) => {
          res.setHeader('Vary', 'Accept-Encoding')
          return next(req, res)
        },
        cors({ origin: [A] })
      )(counting())
    )
    try {
      const res = await preflight(server, A)
      expect(res.headers.vary).toBe('Accept-Encoding, Origin, Access-Control-Request-Headers')
    } finally {
      await server.close()
    }
  })
})

describe('cors: headers on every response', () => {
  const cases: [string, Handler, number][] = [
    [
      'a sync throw',
      () => {
        throw new Error('boom')
      },
      500,
    ],
    ['an async rejection', async () => Promise.reject(new Error('boom')), 500],
    [
      'an HttpError',
      () => {
        throw new HttpError(404, 'nothing here')
      },
      404,
    ],
    [
      'a streamed response',
      async (_req, res) => {
        res.write('a')
        await new Promise((r) => setTimeout(r, 10))
        res.end('b')
      },
      200,
    ],
  ]

  it.each(cases)('should keep CORS headers on %s', async (_name, handler, status) => {
    const server = await listen(
      stack(
        { onError: () => {} },
        cors({ origin: [A], credentials: true, exposedHeaders: ['X-Id'] })
      )(handler)
    )
    try {
      const res = await send(server, { origin: A })
      expect(res.status).toBe(status)
      expect(res.headers['access-control-allow-origin']).toBe(A)
      expect(res.headers['access-control-allow-credentials']).toBe('true')
      expect(res.headers['access-control-expose-headers']).toBe('X-Id')
      expect(res.headers.vary).toBe('Origin')
      expect(res.body).not.toContain('boom')
    } finally {
      await server.close()
    }
  })

  it('should keep Vary: Origin on error responses for refused origins', async () => {
    const server = await listen(
      stack(
        { onError: () => {} },
        cors({ origin: [A] })
      )(() => {
        throw new Error('boom')
      })
    )
    try {
      const res = await send(server, { origin: 'https://evil.example' })
      expect(res.status).toBe(500)
      expect(corsHeaders(res)).toEqual([])
      expect(res.headers.vary).toBe('Origin')
    } finally {
      await server.close()
    }
  })
})
