import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import {
  anyOf,
  apiKey,
  basic,
  bearer,
  type FailureInfo,
  type FailureReason,
  getAuthScheme,
} from '../src/index.js'
import { basicHeader, withServer } from './helpers.js'

failOnUnhandledRejections()

const KEY_CHALLENGE = 'ApiKey realm="Restricted", header="x-api-key"'
const BEARER = 'Bearer realm="api"'

describe('anyOf', () => {
  const key = apiKey({ keys: { 'k-123': 'ci' } })
  const token = bearer({
    realm: 'api',
    tokens: { 'tok-1': { sub: 'u1', scope: 'read' } },
    scopes: ['read'],
  })

  it('should accept any of the schemes and report which one', async () => {
    const auth = anyOf(key, token)
    await withServer(auth, async ({ url }) => {
      const byKey = await fetch(url, { headers: { 'x-api-key': 'k-123' } })
      expect(await byKey.json()).toMatchObject({ principal: 'ci', scheme: 'apiKey' })
      const byToken = await fetch(url, { headers: { authorization: 'Bearer tok-1' } })
      expect(await byToken.json()).toMatchObject({ principal: { sub: 'u1' }, scheme: 'bearer' })
    })
  })

  it('should send every challenge on a 401 without credentials', async () => {
    await withServer(anyOf(key, token), async ({ url }) => {
      const res = await rawRequest(url)
      expect(res.status).toBe(401)
      const lines = res.rawHeaders.filter(
        (_, i, a) => a[i - 1]?.toLowerCase() === 'www-authenticate'
      )
      expect(lines).toEqual([KEY_CHALLENGE, BEARER])
    })
  })

  it('should report the scheme whose credentials were refused, with every challenge', async () => {
    await withServer(anyOf(key, token), async ({ url }) => {
      const bad = await rawRequest(url, { headers: { authorization: 'Bearer nope' } })
      expect(bad.status).toBe(401)
      expect(bad.headers['www-authenticate']).toBe(
        `${KEY_CHALLENGE}, ${BEARER}, error="invalid_token", error_description="The access token is invalid"`
      )
      const malformed = await rawRequest(url, { headers: { authorization: 'Bearer' } })
      expect(malformed.status).toBe(400)
      const wrongKey = await rawRequest(url, { headers: { 'x-api-key': 'nope' } })
      expect(wrongKey.status).toBe(401)
      expect(wrongKey.headers['www-authenticate']).toBe(`${KEY_CHALLENGE}, ${BEARER}`)
      expect(wrongKey.body).toBe(bad.body)
    })
  })

  it('should pass 403 insufficient_scope through', async () => {
    const scoped = bearer({ tokens: { 'tok-2': { scope: 'other' } }, scopes: ['read'] })
    await withServer(anyOf(key, scoped), async ({ url }) => {
      const res = await rawRequest(url, { headers: { authorization: 'Bearer tok-2' } })
      expect(res.status).toBe(403)
      expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"')
    })
  })

  it('should work with async schemes, Basic among them, and its own options', async () => {
    const reasons: [FailureReason, FailureInfo][] = []
    const auth = anyOf(
      {
        paths: ['/api'],
        onFailure: (reason, _req, info) => {
          reasons.push([reason, info])
        },
      },
      bearer({ verify: async (t) => (t === 'async-ok' ? 'svc' : false) }),
      basic({ users: { alice: 'pw' }, realm: 'staff' })
    )
    await withServer(auth, async ({ url }) => {
      const a = await rawRequest(url, {
        path: '/api',
        headers: { authorization: 'Bearer async-ok' },
      })
      expect(a.status).toBe(200)
      const b = await rawRequest(url, {
        path: '/api/x',
        headers: { authorization: basicHeader('alice', 'pw') },
      })
      expect(JSON.parse(b.body)).toMatchObject({ principal: 'alice', scheme: 'basic' })
      expect((await rawRequest(url, { path: '/open' })).status).toBe(200)
      const c = await rawRequest(url, {
        path: '/api',
        headers: { authorization: basicHeader('alice', 'no') },
      })
      expect(c.status).toBe(401)
      expect(c.headers['www-authenticate']).toBe(
        'Bearer realm="Restricted", Basic realm="staff", charset="UTF-8"'
      )
    })
    expect(reasons.map(([r, i]) => [r, i.scheme])).toEqual([['invalid', 'basic']])
  })

  it('should type the principal as the union of its layers', () => {
    const auth = anyOf(key, basic({ users: { a: 'b' } }))
    const check = (p: ReturnType<typeof auth.getPrincipal>): string | undefined => p
    expect(check(undefined)).toBeUndefined()
    expect(getAuthScheme).toBeTypeOf('function')
  })

  it('should refuse bad arguments at start-up', () => {
    expect(() => anyOf()).toThrow(/\[@shallot\/auth\] anyOf\(\) needs at least one/)
    expect(() => anyOf((() => () => {}) as never)).toThrow(/argument 0 is not an auth layer/)
    expect(() => anyOf(key, key)).toThrow(/given twice/)
    expect(() => anyOf(key, apiKey({ keys: ['x'], paths: ['/a'] }))).toThrow(
      /argument 1 sets option "paths"; set it on anyOf\(\) instead/
    )
    expect(() => anyOf({ path: ['/x'] } as never, key)).toThrow(
      /\[@shallot\/auth\] option "path" of anyOf\(\) is not a known option/
    )
  })

  it('should nest', async () => {
    await withServer(anyOf(anyOf(key), token), async ({ url }) => {
      expect((await fetch(url, { headers: { 'x-api-key': 'k-123' } })).status).toBe(200)
      expect((await fetch(url, { headers: { authorization: 'Bearer tok-1' } })).status).toBe(200)
    })
  })
})
