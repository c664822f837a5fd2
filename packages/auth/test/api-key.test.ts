import type { IncomingMessage } from 'node:http'
import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { apiKey, type FailureReason } from '../src/index.js'
import { withServer } from './helpers.js'

failOnUnhandledRejections()

describe('apiKey: keys', () => {
  it('should accept a mapped key and expose its principal', async () => {
    const auth = apiKey({ keys: { 'k-123': 'admin', 'k-456': 'reader' } })
    await withServer(auth, async ({ url }) => {
      const res = await fetch(url, { headers: { 'x-api-key': 'k-456' } })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ principal: 'reader', scheme: 'apiKey' })
    })
  })

  it('should accept a key from a list, the principal being its index', async () => {
    await withServer(apiKey({ keys: ['a-key', 'b-key'] }), async ({ url }) => {
      const res = await fetch(url, { headers: { 'x-api-key': 'b-key' } })
      expect(await res.json()).toMatchObject({ principal: 1 })
    })
  })

  it('should accept keys from a Map', async () => {
    const keys = new Map([['m-key', { id: 7 }]])
    await withServer(apiKey({ keys }), async ({ url }) => {
      const res = await fetch(url, { headers: { 'x-api-key': 'm-key' } })
      expect(await res.json()).toMatchObject({ principal: { id: 7 } })
    })
  })

  it('should give a missing and a wrong key the same 401 body, with a challenge', async () => {
    await withServer(apiKey({ keys: { 'k-123': 'admin' } }), async ({ url }) => {
      for (const accept of ['application/json', 'text/plain']) {
        const missing = await fetch(url, { headers: { accept } })
        const wrong = await fetch(url, { headers: { accept, 'x-api-key': 'k-124' } })
        const short = await fetch(url, { headers: { accept, 'x-api-key': 'k' } })
        for (const res of [missing, wrong, short]) {
          expect(res.status).toBe(401)
          expect(res.headers.get('www-authenticate')).toBe(
            'ApiKey realm="Restricted", header="x-api-key"'
          )
        }
        const bodies = await Promise.all([missing.text(), wrong.text(), short.text()])
        expect(new Set(bodies).size).toBe(1)
        if (accept === 'application/json') {
          expect(JSON.parse(bodies[0] as string)).toEqual({
            statusCode: 401,
            error: 'Unauthorized',
            message: 'Authentication required',
          })
        } else {
          expect(bodies[0]).toBe('Authentication required\n')
        }
      }
    })
  })

  it('should refuse a repeated header (joined by Node) as a wrong key', async () => {
    await withServer(apiKey({ keys: ['k-1'] }), async ({ url }) => {
      const res = await rawRequest(url, { headers: { 'x-api-key': ['k-1', 'k-1'] } })
      expect(res.status).toBe(401)
    })
  })

  it('should read a custom header, case-insensitively', async () => {
    await withServer(apiKey({ header: 'X-Token', keys: ['t1'], realm: 'svc' }), async ({ url }) => {
      expect((await fetch(url, { headers: { 'x-token': 't1' } })).status).toBe(200)
      const res = await fetch(url, { headers: { 'x-api-key': 't1' } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('ApiKey realm="svc", header="x-token"')
    })
  })
})

describe('apiKey: query', () => {
  it('should read the key from the query only when asked to', async () => {
    await withServer(apiKey({ keys: ['q1'] }), async ({ url }) => {
      expect((await fetch(`${url}/?api_key=q1`)).status).toBe(401)
    })
    await withServer(apiKey({ keys: ['q1'], query: 'api_key' }), async ({ url }) => {
      expect((await fetch(`${url}/x?api_key=q1`)).status).toBe(200)
      expect((await fetch(`${url}/x?api_key=q2`)).status).toBe(401)
      expect((await fetch(`${url}/x`, { headers: { 'x-api-key': 'q1' } })).status).toBe(200)
    })
  })

  it('should refuse a repeated query parameter as malformed', async () => {
    const reasons: FailureReason[] = []
    const auth = apiKey({
      keys: ['q1'],
      query: 'api_key',
      header: false,
      onFailure: (reason) => {
        reasons.push(reason)
      },
    })
    await withServer(auth, async ({ url }) => {
      const res = await fetch(`${url}/?api_key=q1&api_key=q1`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('ApiKey realm="Restricted", query="api_key"')
      expect((await fetch(`${url}/?api_key=q1`, { headers: { 'x-api-key': 'zz' } })).status).toBe(
        200
      )
    })
    expect(reasons).toEqual(['malformed'])
  })
})

describe('apiKey: verify', () => {
  it('should accept what a sync or async verify accepts', async () => {
    const sync = apiKey({ verify: (key) => (key === 'good' ? { user: 'u1' } : false) })
    const async = apiKey({
      verify: async (key, req: IncomingMessage) => (key === 'good' ? req.method : null),
    })
    for (const auth of [sync, async]) {
      await withServer(auth, async ({ url }) => {
        const ok = await fetch(url, { headers: { 'x-api-key': 'good' } })
        expect(ok.status).toBe(200)
        expect((await fetch(url, { headers: { 'x-api-key': 'bad' } })).status).toBe(401)
      })
    }
  })

  it('should turn a throwing verify into a 500, not a 401', async () => {
    const errors: Error[] = []
    const boom = apiKey({
      verify: () => {
        throw new Error('database down')
      },
    })
    const boomAsync = apiKey({ verify: async () => Promise.reject(new Error('database down')) })
    for (const auth of [boom, boomAsync]) {
      await withServer(
        auth,
        async ({ url }) => {
          const res = await fetch(url, { headers: { 'x-api-key': 'x' } })
          expect(res.status).toBe(500)
          expect(res.headers.get('www-authenticate')).toBeNull()
          expect(await res.text()).not.toContain('database')
        },
        undefined,
        { onError: (err) => errors.push(err) }
      )
    }
    expect(errors.map((e) => e.message)).toEqual(['database down', 'database down'])
  })

  it('should keep a principal of 0 or empty string (only false/null/undefined refuse)', async () => {
    await withServer(apiKey({ verify: () => 0 }), async ({ url }) => {
      const res = await fetch(url, { headers: { 'x-api-key': 'x' } })
      expect(await res.json()).toMatchObject({ principal: 0 })
    })
  })
})
