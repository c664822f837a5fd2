import type { IncomingMessage } from 'node:http'
import { type Handler, mount, stack, when } from '@shallot/stack'
import { failOnUnhandledRejections, listen, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { apiKey, basic, getPrincipal } from '../src/index.js'
import { basicHeader, withServer } from './helpers.js'

failOnUnhandledRejections()

const key = { 'x-api-key': 'k-123' }

describe('paths and exclude', () => {
  it('should protect /api and below, segment-aware, never /apix', async () => {
    for (const p of ['/api', '/api/']) {
      await withServer(apiKey({ keys: { 'k-123': 'admin' }, paths: [p] }), async ({ url }) => {
        for (const path of ['/api', '/api/', '/api/x', '/api/x/y?q=1']) {
          expect((await rawRequest(url, { path })).status, path).toBe(401)
          expect((await rawRequest(url, { path, headers: key })).status, path).toBe(200)
        }
        for (const path of ['/apix', '/apix/y', '/', '/other/api', '/API']) {
          expect((await rawRequest(url, { path })).status, path).toBe(200)
        }
      })
    }
  })

  it('should decide on the canonical path, so encoded or dotted forms cannot bypass', async () => {
    await withServer(apiKey({ keys: ['k-123'], paths: ['/api'] }), async ({ url }) => {
      for (const path of ['/%61pi/x', '//api/x', '/./api/x', '/x/../api/x', '/x/%2e%2e/api']) {
        expect((await rawRequest(url, { path })).status, path).toBe(401)
      }
    })
  })

  it('should match case-insensitively when asked', async () => {
    const auth = apiKey({ keys: ['k-123'], paths: ['/Api'], caseSensitive: false })
    await withServer(auth, async ({ url }) => {
      for (const path of ['/api', '/API/x', '/aPi/']) {
        expect((await rawRequest(url, { path })).status, path).toBe(401)
      }
      expect((await rawRequest(url, { path: '/apix' })).status).toBe(200)
    })
  })

  it('should leave excluded paths open, segment-aware', async () => {
    const auth = apiKey({ keys: ['k-123'], paths: ['/api'], exclude: ['/api/health'] })
    await withServer(auth, async ({ url }) => {
      expect((await rawRequest(url, { path: '/api/health' })).status).toBe(200)
      expect((await rawRequest(url, { path: '/api/health/deep' })).status).toBe(200)
      expect((await rawRequest(url, { path: '/api/healthz' })).status).toBe(401)
      expect((await rawRequest(url, { path: '/api/x' })).status).toBe(401)
    })
    await withServer(apiKey({ keys: ['k-123'], exclude: ['/public/'] }), async ({ url }) => {
      expect((await rawRequest(url, { path: '/public/a.css' })).status).toBe(200)
      expect((await rawRequest(url, { path: '/publicx' })).status).toBe(401)
      expect((await rawRequest(url, { path: '/' })).status).toBe(401)
    })
  })

  it('should compose with mount(): protects the prefix, paths relative inside', async () => {
    await withServer(mount('/api', apiKey({ keys: ['k-123'] })), async ({ url }) => {
      expect((await rawRequest(url, { path: '/api/x' })).status).toBe(401)
      expect((await rawRequest(url, { path: '/api/x', headers: key })).status).toBe(200)
      expect((await rawRequest(url, { path: '/apix' })).status).toBe(200)
    })
    const inner = mount('/v1', apiKey({ keys: ['k-123'], exclude: ['/public'] }))
    await withServer(inner, async ({ url }) => {
      expect((await rawRequest(url, { path: '/v1/public/x' })).status).toBe(200)
      expect((await rawRequest(url, { path: '/v1/private' })).status).toBe(401)
    })
  })

  it('should compose with when()', async () => {
    const writes = when((req) => req.method !== 'GET', apiKey({ keys: ['k-123'] }))
    await withServer(writes, async ({ url }) => {
      expect((await fetch(url)).status).toBe(200)
      expect((await fetch(url, { method: 'POST' })).status).toBe(401)
      expect((await fetch(url, { method: 'POST', headers: key })).status).toBe(200)
    })
  })
})

describe('CORS preflight', () => {
  const preflight = {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  }

  it('should let a preflight through untouched, even with auth outside CORS', async () => {
    const seen: string[] = []
    const app: Handler = (req, res) => {
      seen.push(`${req.method} ${getPrincipal(req) ?? '-'}`)
      res.statusCode = 204
      res.setHeader('access-control-allow-origin', 'https://app.example')
      res.end()
    }
    await withServer(
      apiKey({ keys: ['k-123'] }),
      async ({ url }) => {
        const res = await rawRequest(url, preflight)
        expect(res.status).toBe(204)
        expect(res.headers['access-control-allow-origin']).toBe('https://app.example')
        expect(res.headers['cache-control']).toBeUndefined()
        expect(res.headers['www-authenticate']).toBeUndefined()
      },
      app
    )
    expect(seen).toEqual(['OPTIONS -'])
  })

  it('should still protect an OPTIONS that is not a preflight, and preflights when asked', async () => {
    await withServer(apiKey({ keys: ['k-123'] }), async ({ url }) => {
      expect((await rawRequest(url, { method: 'OPTIONS' })).status).toBe(401)
      const noAcrm = { method: 'OPTIONS', headers: { origin: 'https://app.example' } }
      expect((await rawRequest(url, noAcrm)).status).toBe(401)
    })
    await withServer(apiKey({ keys: ['k-123'], skipPreflight: false }), async ({ url }) => {
      expect((await rawRequest(url, preflight)).status).toBe(401)
    })
  })
})

describe('Cache-Control on authenticated responses', () => {
  it('should add Cache-Control: private and Vary, unless the app set its own', async () => {
    const own: Handler = (_req, res) => {
      res.setHeader('cache-control', 'no-store')
      res.end('x')
    }
    await withServer(basic({ users: { a: 'b' } }), async ({ url }) => {
      const res = await fetch(url, { headers: { authorization: basicHeader('a', 'b') } })
      expect(res.headers.get('cache-control')).toBe('private')
      expect(res.headers.get('vary')).toBe('Authorization')
    })
    await withServer(
      basic({ users: { a: 'b' } }),
      async ({ url }) => {
        const res = await fetch(url, { headers: { authorization: basicHeader('a', 'b') } })
        expect(res.headers.get('cache-control')).toBe('no-store')
      },
      own
    )
  })

  it('should follow cacheControl, and not touch unprotected responses', async () => {
    const auth = apiKey({ keys: ['k-123'], paths: ['/api'], cacheControl: 'private, no-cache' })
    await withServer(auth, async ({ url }) => {
      const res = await rawRequest(url, { path: '/api', headers: key })
      expect(res.headers['cache-control']).toBe('private, no-cache')
      expect(res.headers.vary).toBe('x-api-key')
      const open = await rawRequest(url, { path: '/open' })
      expect(open.headers['cache-control']).toBeUndefined()
    })
    await withServer(apiKey({ keys: ['k-123'], cacheControl: false }), async ({ url }) => {
      const res = await rawRequest(url, { headers: key })
      expect(res.headers['cache-control']).toBeUndefined()
    })
  })

  it('should keep Cache-Control: private on an error after authentication', async () => {
    const fails: Handler = () => {
      throw new Error('boom')
    }
    await withServer(
      apiKey({ keys: ['k-123'] }),
      async ({ url }) => {
        const res = await rawRequest(url, { headers: key })
        expect(res.status).toBe(500)
        expect(res.headers['cache-control']).toBe('private')
      },
      fails
    )
  })
})

describe('getPrincipal', () => {
  it('should be typed per layer, and only report its own principal', async () => {
    const keyAuth = apiKey({ keys: { 'k-123': 'admin' } })
    const userAuth = basic({ verify: (user) => ({ user }) })
    const seen: unknown[] = []
    const app: Handler = (req: IncomingMessage, res) => {
      const role: string | undefined = keyAuth.getPrincipal(req)
      const user: { user: string } | undefined = userAuth.getPrincipal(req)
      seen.push(role, user?.user)
      res.end()
    }
    const server = await listen(stack({ onError: () => {} }, keyAuth)(app))
    try {
      await fetch(server.url, { headers: key })
    } finally {
      await server.close()
    }
    expect(seen).toEqual(['admin', undefined])
  })

  it('should be undefined on unprotected paths', async () => {
    await withServer(apiKey({ keys: ['k-123'], paths: ['/api'] }), async ({ url }) => {
      const res = await fetch(`${url}/open`, { headers: key })
      expect(await res.json()).toMatchObject({ principal: null, scheme: null })
    })
  })
})

describe('onFailure', () => {
  it('should turn a throwing onFailure into a 500', async () => {
    const auth = apiKey({
      keys: ['k-123'],
      onFailure: () => {
        throw new Error('metrics down')
      },
    })
    await withServer(auth, async ({ url }) => {
      expect((await fetch(url)).status).toBe(500)
      expect((await fetch(url, { headers: key })).status).toBe(200)
    })
  })
})
