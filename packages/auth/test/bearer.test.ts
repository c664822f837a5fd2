import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { bearer, type FailureReason } from '../src/index.js'
import { withServer } from './helpers.js'

failOnUnhandledRejections()

const tokens = {
  'tok-read': { sub: 'r', scope: 'read' },
  'tok-write': { sub: 'w', scope: 'read write' },
  'tok-none': { sub: 'n' },
}

describe('bearer: RFC 6750', () => {
  it('should accept a known token, scheme case-insensitive', async () => {
    await withServer(bearer({ tokens }), async ({ url }) => {
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const res = await fetch(url, { headers: { authorization: `${scheme} tok-write` } })
        expect(res.status).toBe(200)
        expect(await res.json()).toMatchObject({ principal: { sub: 'w' }, scheme: 'bearer' })
      }
    })
  })

  it('should send 401 with a bare challenge (no error code) when no credentials', async () => {
    await withServer(bearer({ tokens, realm: 'api' }), async ({ url }) => {
      for (const headers of [{}, { authorization: 'Basic YTpi' }] as Record<string, string>[]) {
        const res = await fetch(url, { headers })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="api"')
      }
    })
  })

  it('should send 400 invalid_request for a malformed Authorization header', async () => {
    await withServer(bearer({ tokens, realm: 'api' }), async ({ url }) => {
      for (const authorization of ['Bearer', 'Bearer a b', 'Bearer tok,en', 'Bearer =abc']) {
        const res = await rawRequest(url, { headers: { authorization } })
        expect(res.status).toBe(400)
        expect(res.headers['www-authenticate']).toBe(
          'Bearer realm="api", error="invalid_request", error_description="The request is missing a required parameter or is otherwise malformed"'
        )
        expect(res.body).toBe('Malformed credentials\n')
      }
    })
  })

  it('should send 401 invalid_token for an unknown token, same body as no token', async () => {
    await withServer(bearer({ tokens, realm: 'api' }), async ({ url }) => {
      const res = await fetch(url, { headers: { authorization: 'Bearer tok-nope' } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(
        'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
      )
      const none = await fetch(url)
      expect(await res.text()).toBe(await none.text())
    })
  })

  it('should send 403 insufficient_scope with the required scope', async () => {
    await withServer(bearer({ tokens, realm: 'api', scopes: ['write'] }), async ({ url }) => {
      const ok = await fetch(url, { headers: { authorization: 'Bearer tok-write' } })
      expect(ok.status).toBe(200)
      for (const t of ['tok-read', 'tok-none']) {
        const res = await fetch(url, {
          headers: { authorization: `Bearer ${t}`, accept: 'application/json' },
        })
        expect(res.status).toBe(403)
        expect(res.headers.get('www-authenticate')).toBe(
          'Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token", scope="write"'
        )
        expect(await res.json()).toEqual({
          statusCode: 403,
          error: 'Forbidden',
          message: 'Insufficient scope',
        })
      }
    })
  })

  it('should take required scopes per request and scopes from getScopes', async () => {
    const auth = bearer({
      verify: (token) => (token === 'ok' ? { roles: ['admin'] } : false),
      scopes: (req) => (req.method === 'GET' ? [] : ['admin']),
      getScopes: (p) => p.roles,
    })
    const onlyGet = bearer({
      verify: (token) => (token === 'ok' ? { roles: ['reader'] } : false),
      scopes: (req) => (req.method === 'GET' ? [] : ['admin']),
      getScopes: (p) => p.roles,
    })
    await withServer(auth, async ({ url }) => {
      const headers = { authorization: 'Bearer ok' }
      expect((await fetch(url, { method: 'POST', headers })).status).toBe(200)
    })
    await withServer(onlyGet, async ({ url }) => {
      const headers = { authorization: 'Bearer ok' }
      expect((await fetch(url, { headers })).status).toBe(200)
      expect((await fetch(url, { method: 'POST', headers })).status).toBe(403)
    })
  })

  it('should refuse an oversized token with invalid_token before verifying', async () => {
    let calls = 0
    const reasons: FailureReason[] = []
    const auth = bearer({
      verify: () => {
        calls++
        return 'x'
      },
      maxTokenSize: 16,
      onFailure: (r) => void reasons.push(r),
    })
    await withServer(auth, async ({ url }) => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${'a'.repeat(17)}` } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
      expect(
        (await fetch(url, { headers: { authorization: `Bearer ${'a'.repeat(16)}` } })).status
      ).toBe(200)
    })
    expect(calls).toBe(1)
    expect(reasons).toEqual(['oversized'])
  })

  it('should give each failure its reason code in onFailure, never on the wire', async () => {
    const reasons: [FailureReason, number][] = []
    const auth = bearer({
      tokens,
      scopes: ['write'],
      onFailure: (reason, _req, info) => void reasons.push([reason, info.status]),
    })
    await withServer(auth, async ({ url }) => {
      for (const a of [undefined, 'Bearer', 'Bearer nope', 'Bearer tok-read']) {
        const res = await fetch(url, a === undefined ? {} : { headers: { authorization: a } })
        const text = await res.text()
        for (const code of ['missing', 'malformed', 'invalid', 'insufficient_scope']) {
          expect(text).not.toContain(code)
        }
      }
    })
    expect(reasons).toEqual([
      ['missing', 401],
      ['malformed', 400],
      ['invalid', 401],
      ['insufficient_scope', 403],
    ])
  })

  it('should turn a throwing verify into a 500', async () => {
    const auth = bearer({ verify: async () => Promise.reject(new Error('introspection down')) })
    await withServer(auth, async ({ url }) => {
      const res = await fetch(url, { headers: { authorization: 'Bearer abc' } })
      expect(res.status).toBe(500)
      expect(res.headers.get('www-authenticate')).toBeNull()
    })
  })
})
