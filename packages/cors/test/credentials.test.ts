import type { Handler } from '@shallot/stack'
import { failOnUnhandledRejections, type Listening } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type CorsOptions, cors } from '../src/index.js'
import { counting, preflight, send, withServing } from './helpers.js'

failOnUnhandledRejections()

const A = 'https://app.example.com'

const withServer = (
  options: CorsOptions,
  fn: (server: Listening) => Promise<void>,
  handler: Handler = counting()
): Promise<void> => withServing(cors(options), handler, fn)

describe('cors: credentials', () => {
  it('should echo the allowed origin with Access-Control-Allow-Credentials: true', async () => {
    await withServer({ origin: [A], credentials: true }, async (server) => {
      const res = await send(server, { origin: A })
      expect(res.headers['access-control-allow-origin']).toBe(A)
      expect(res.headers['access-control-allow-credentials']).toBe('true')
      expect(res.headers.vary).toBe('Origin')
      const pre = await preflight(server, A)
      expect(pre.headers['access-control-allow-origin']).toBe(A)
      expect(pre.headers['access-control-allow-credentials']).toBe('true')
      const refused = await send(server, { origin: 'https://evil.example' })
      expect(refused.headers['access-control-allow-credentials']).toBeUndefined()
      expect(refused.headers.vary).toBe('Origin')
    })
  })

  it("should refuse origin '*' with credentials at start-up, naming both options", () => {
    expect(() => cors({ credentials: true })).toThrow(TypeError)
    expect(() => cors({ origin: '*', credentials: true })).toThrow(
      /\[@shallot\/cors\] option "origin" '\*' cannot be combined with option "credentials": true.*reflectAnyOriginWithCredentials/
    )
  })

  it('should reflect any valid origin only with reflectAnyOriginWithCredentials', async () => {
    await withServer(
      { origin: '*', credentials: true, reflectAnyOriginWithCredentials: true },
      async (server) => {
        const res = await send(server, { origin: 'https://anyone.example' })
        expect(res.headers['access-control-allow-origin']).toBe('https://anyone.example')
        expect(res.headers['access-control-allow-credentials']).toBe('true')
        expect(res.headers.vary).toBe('Origin')
        for (const origin of ['null', 'https://Anyone.example', 'https://a.example/']) {
          const no = await send(server, { origin })
          expect(no.headers['access-control-allow-origin']).toBeUndefined()
          expect(no.headers['access-control-allow-credentials']).toBeUndefined()
        }
        const none = await send(server)
        expect(none.headers['access-control-allow-origin']).toBeUndefined()
        expect(none.headers.vary).toBe('Origin')
      }
    )
    expect(() => cors({ origin: [A], reflectAnyOriginWithCredentials: true })).toThrow(
      /option "reflectAnyOriginWithCredentials" only applies together with origin: '\*' and credentials: true/
    )
    expect(() => cors({ reflectAnyOriginWithCredentials: true })).toThrow(TypeError)
  })

  it('should refuse a RegExp that matches any origin together with credentials', () => {
    for (const re of [/.*/, /^https?:\/\/.+$/, /./]) {
      expect(() => cors({ origin: [A, re], credentials: true })).toThrow(
        /option "origin" has .* which matches any origin.*"credentials": true/
      )
      expect(() => cors({ origin: re })).not.toThrow()
    }
    expect(() =>
      cors({ origin: /^https:\/\/[a-z]+\.example\.com$/, credentials: true })
    ).not.toThrow()
  })

  it('should allow null with credentials only when allowNullOrigin says so', async () => {
    await withServer({ origin: [A], credentials: true, allowNullOrigin: true }, async (server) => {
      const res = await send(server, { origin: 'null' })
      expect(res.headers['access-control-allow-origin']).toBe('null')
      expect(res.headers['access-control-allow-credentials']).toBe('true')
    })
  })

  it('should expand * in methods to the requested method, with Vary', async () => {
    await withServer({ origin: [A], credentials: true, methods: ['*', 'GET'] }, async (server) => {
      const res = await preflight(server, A, 'PURGE')
      expect(res.headers['access-control-allow-methods']).toBe('GET, PURGE')
      expect(res.headers.vary).toBe(
        'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'
      )
      const bad = await preflight(server, A, 'P(URGE')
      expect(bad.headers['access-control-allow-methods']).toBe('GET')
    })
    await withServer({ origin: [A], methods: '*' }, async (server) => {
      const res = await preflight(server, A, 'PURGE')
      expect(res.headers['access-control-allow-methods']).toBe('*')
    })
  })

  it('should expand * in allowedHeaders to the requested names, never Authorization', async () => {
    const acrh = { 'access-control-request-headers': 'authorization, x-a, content-type' }
    await withServer({ origin: [A], credentials: true, allowedHeaders: '*' }, async (server) => {
      const res = await preflight(server, A, 'GET', acrh)
      expect(res.headers['access-control-allow-headers']).toBe('x-a, content-type')
      expect(res.headers.vary).toBe('Origin, Access-Control-Request-Headers')
      const none = await preflight(server, A, 'GET')
      expect(none.headers['access-control-allow-headers']).toBeUndefined()
    })
    await withServer(
      { origin: [A], credentials: true, allowedHeaders: ['*', 'Authorization'] },
      async (server) => {
        const res = await preflight(server, A, 'GET', acrh)
        expect(res.headers['access-control-allow-headers']).toBe('Authorization, x-a, content-type')
      }
    )
    // Without credentials, * is sent as is (browsers do not let it cover Authorization).
    await withServer({ origin: [A], allowedHeaders: '*' }, async (server) => {
      const res = await preflight(server, A, 'GET', acrh)
      expect(res.headers['access-control-allow-headers']).toBe('*')
      expect(res.headers.vary).toBe('Origin')
    })
  })

  it("should expand * in exposedHeaders to the response's own headers", async () => {
    const handler: Handler = (_req, res) => {
      res.setHeader('X-Request-Id', 'r1')
      res.setHeader('X-Total', '3')
      res.setHeader('Set-Cookie', 'a=b')
      res.setHeader('Content-Type', 'text/plain')
      res.end('ok')
    }
    await withServer(
      { origin: [A], credentials: true, exposedHeaders: ['*', 'X-Extra'] },
      async (server) => {
        const res = await send(server, { origin: A })
        expect(res.headers['access-control-expose-headers']).toBe('X-Extra, x-request-id, x-total')
      },
      handler
    )
    await withServer(
      { origin: [A], exposedHeaders: '*' },
      async (server) => {
        const res = await send(server, { origin: A })
        expect(res.headers['access-control-expose-headers']).toBe('*')
      },
      handler
    )
  })
})
