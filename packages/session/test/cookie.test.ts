import { readFileSync } from 'node:fs'
import { createServer, request } from 'node:https'
import type { AddressInfo } from 'node:net'
import { stack, trustProxy } from '@shallot/stack'
import { rawRequest } from '@shallot/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore, type SessionOptions, session } from '../src/index.js'
import { app, Client, cookieOf, OLD_SECRET, SECRET, setCookies, withServer } from './helpers.js'

afterEach(() => {
  vi.useRealTimers()
})

async function firstCookie(
  options: Partial<SessionOptions>,
  headers: Record<string, string> = {}
): Promise<string> {
  let line = ''
  await withServer(
    [trustProxy({ trust: ['loopback'] }), session({ secret: SECRET, ...options })],
    async ({ url }) => {
      const res = await rawRequest(url, { path: '/', headers })
      line = setCookies(res)[0] ?? ''
    }
  )
  return line
}

describe('session: cookie attributes', () => {
  it('should default to HttpOnly, SameSite=Lax, Path=/ and a Max-Age of the session lifetime', async () => {
    expect(await firstCookie({})).toMatch(
      /^sid=[\w-]+\.[\w-]+; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/
    )
  })

  it('should pass every attribute through the cookie package', async () => {
    const line = await firstCookie({
      name: 'app.sid',
      cookie: {
        path: '/app',
        domain: 'example.com',
        httpOnly: false,
        sameSite: 'strict',
        priority: 'high',
        secure: true,
        partitioned: true,
      },
    })
    expect(line).toMatch(
      /^app\.sid=[\w-]+\.[\w-]+; Max-Age=86400; Domain=example\.com; Path=\/app; Secure; Partitioned; Priority=High; SameSite=Strict$/
    )
    expect(await firstCookie({ cookie: { sameSite: false } })).not.toMatch(/SameSite/)
    expect(await firstCookie({ cookie: { sameSite: 'none' } })).toMatch(/SameSite=None$/)
  })

  it('should send Secure over plain http for SameSite=None and Partitioned, which browsers drop without it', async () => {
    expect(await firstCookie({ cookie: { sameSite: 'none' } })).toMatch(/; Secure; SameSite=None$/)
    expect(await firstCookie({ cookie: { partitioned: true } })).toContain('; Secure; Partitioned')
    expect(await firstCookie({})).not.toContain('Secure')
  })

  it('should send a browser-session cookie with maxAge null, and cap a fixed maxAge at the deadline', async () => {
    expect(await firstCookie({ cookie: { maxAge: null } })).toMatch(
      /^sid=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Lax$/
    )
    expect(await firstCookie({ cookie: { maxAge: 3_600_000 } })).toMatch(/Max-Age=3600;/)
    expect(await firstCookie({ idleTimeout: 60_000, cookie: { maxAge: 3_600_000 } })).toMatch(
      /Max-Age=60;/
    )
  })

  it('should add Expires for the same instant with expires: true', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'))
    expect(await firstCookie({ cookie: { expires: true } })).toMatch(
      /; Max-Age=86400; Path=\/; Expires=Wed, 02 Jan 2030 00:00:00 GMT; HttpOnly; SameSite=Lax$/
    )
  })

  it('should decide Secure from the connection when secure is auto, believing only trusted proxies', async () => {
    expect(await firstCookie({})).not.toMatch(/Secure/)
    expect(
      await firstCookie({}, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' })
    ).toMatch(/; Secure;/)
    expect(
      await firstCookie({}, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http' })
    ).not.toMatch(/Secure/)
    // without trustProxy, X-Forwarded-Proto is not believed
    await withServer(session({ secret: SECRET }), async ({ url }) => {
      const res = await rawRequest(url, {
        path: '/',
        headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' },
      })
      expect(cookieOf(res)).toBeDefined()
      expect(setCookies(res)[0]).not.toMatch(/Secure/)
    })
    expect(
      await firstCookie(
        { cookie: { secure: false } },
        { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }
      )
    ).not.toMatch(/Secure/)
  })

  it('should set Secure on a TLS connection when secure is auto', async () => {
    const server = createServer(
      {
        key: readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url)),
        cert: readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url)),
      },
      stack(session({ secret: SECRET }))(app)
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const line = await new Promise<string>((resolve, reject) => {
        request(
          { host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false },
          (res) => {
            res.resume()
            resolve(res.headers['set-cookie']?.[0] ?? '')
          }
        )
          .on('error', reject)
          .end()
      })
      expect(line).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('should always set Secure on a __Host- or __Secure- cookie', async () => {
    expect(await firstCookie({ name: '__Host-sid' })).toMatch(
      /^__Host-sid=[\w-]+\.[\w-]+; Max-Age=86400; Path=\/; HttpOnly; Secure; SameSite=Lax$/
    )
    expect(await firstCookie({ name: '__Secure-sid', cookie: { secure: 'auto' } })).toMatch(
      /; Secure;/
    )
  })
})

describe('session: when the cookie is sent', () => {
  it('should not re-send it on reads within touchAfter, and re-send it when a read refreshes the session', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'))
    await withServer(
      session({ secret: SECRET, idleTimeout: 600_000, touchAfter: 60_000 }),
      async ({ url }) => {
        const client = new Client(url)
        expect(cookieOf(await client.get('/'))).toBeDefined()
        expect(setCookies(await client.get('/read'))).toEqual([])
        vi.setSystemTime(new Date('2030-01-01T00:01:00Z'))
        const refreshed = await client.get('/read')
        expect(setCookies(refreshed)[0]).toMatch(/Max-Age=600;/)
        expect(setCookies(await client.get('/read'))).toEqual([])
        // changes record activity at most once per touchAfter too, and re-send it then
        expect(setCookies(await client.get('/'))).toEqual([])
        vi.setSystemTime(new Date('2030-01-01T00:02:00Z'))
        expect(setCookies(await client.get('/'))[0]).toMatch(/Max-Age=600;/)
        expect(setCookies(await client.get('/'))).toEqual([])
      }
    )
  })

  it('should re-send it on every response with rolling', async () => {
    await withServer(session({ secret: SECRET, rolling: true }), async ({ url }) => {
      const client = new Client(url)
      await client.get('/')
      for (let i = 0; i < 3; i++) expect(cookieOf(await client.get('/read'))).toBe(client.cookie)
    })
  })

  it('should not re-send a browser-session cookie when refreshing, as it carries no expiry', async () => {
    await withServer(
      session({ secret: SECRET, cookie: { maxAge: null }, touchAfter: 0 }),
      async ({ url }) => {
        const client = new Client(url)
        await client.get('/')
        expect(setCookies(await client.get('/read'))).toEqual([])
        expect(setCookies(await client.get('/'))).toEqual([])
      }
    )
  })

  it('should accept a cookie signed with an older secret and re-issue it signed with the current one', async () => {
    let cookie = ''
    let id = ''
    const store = new MemoryStore()
    await withServer(session({ secret: OLD_SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      id = (await client.json('/')).id
      cookie = client.cookie as string
    })
    await withServer(session({ secret: [SECRET, OLD_SECRET], store }), async ({ url }) => {
      const res = await rawRequest(url, { path: '/read', headers: { cookie } })
      expect(JSON.parse(res.body)).toMatchObject({ id, isNew: false, data: { views: 1 } })
      const reissued = cookieOf(res) as string
      expect(reissued.startsWith(`sid=${id}.`)).toBe(true)
      expect(reissued).not.toBe(cookie)
      // the new cookie is now accepted, and not re-issued again
      const again = await rawRequest(url, { path: '/read', headers: { cookie: reissued } })
      expect(JSON.parse(again.body)).toMatchObject({ id, isNew: false })
      expect(setCookies(again)).toEqual([])
    })
    // a secret no longer listed: a new session
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const res = await rawRequest(url, { path: '/read', headers: { cookie } })
      expect(JSON.parse(res.body)).toMatchObject({ isNew: true, data: {} })
    })
  })
})
