import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { CookieStore, getSession, session } from '../src/index.js'
import {
  Client,
  collectErrors,
  cookieOf,
  json,
  OLD_SECRET,
  SECRET,
  setCookies,
  withServer,
} from './helpers.js'

failOnUnhandledRejections()

const sealed = (options: Record<string, unknown> = {}) =>
  session({ secret: SECRET, store: new CookieStore(), ...options })

describe('CookieStore: the session sealed in the cookie', () => {
  it('should keep the session in the cookie, unreadable by the client', async () => {
    await withServer(sealed(), async ({ url }) => {
      const client = new Client(url)
      const first = await client.json('/set?k=secret&v="hunter2"')
      const value = (client.cookie as string).slice(4)
      expect(value).toMatch(/^[A-Za-z0-9_-]+$/)
      expect(Buffer.from(value, 'base64url').toString('latin1')).not.toContain('hunter2')
      const again = await client.json('/')
      expect(again).toEqual({ id: first.id, isNew: false, data: { secret: 'hunter2', views: 1 } })
    })
  })

  it('should seal each time with a fresh IV', async () => {
    await withServer(sealed({ rolling: true }), async ({ url }) => {
      const client = new Client(url)
      await client.get('/')
      const a = client.cookie
      await client.get('/read')
      expect(client.cookie).not.toBe(a)
      expect((await client.json('/read')).data).toEqual({ views: 1 })
    })
  })

  it('should start afresh on a tampered, truncated or foreign value', async () => {
    let cookie = ''
    await withServer(sealed(), async ({ url }) => {
      const client = new Client(url)
      await client.get('/')
      cookie = client.cookie as string
      const value = cookie.slice(4)
      const flip = (s: string, i: number) =>
        s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
      for (const bad of [
        flip(value, 20),
        flip(value, value.length - 3),
        value.slice(0, -10),
        value.slice(0, 20),
        `${value}AAAA`,
        'x',
        '.',
        '!!!',
      ]) {
        const res = await rawRequest(url, { path: '/read', headers: { cookie: `sid=${bad}` } })
        expect(json(res)).toMatchObject({ isNew: true, data: {} })
      }
    })
    // sealed for another cookie name (the name is authenticated)
    await withServer(sealed({ name: 'other' }), async ({ url }) => {
      const res = await rawRequest(url, {
        path: '/read',
        headers: { cookie: `other=${cookie.slice(4)}` },
      })
      expect(json(res)).toMatchObject({ isNew: true })
    })
    // sealed with a secret no longer listed
    await withServer(session({ secret: OLD_SECRET, store: new CookieStore() }), async ({ url }) => {
      expect(json(await rawRequest(url, { path: '/read', headers: { cookie } }))).toMatchObject({
        isNew: true,
      })
    })
  })

  it('should open values sealed with an older secret and re-seal them with the current one', async () => {
    let cookie = ''
    await withServer(session({ secret: OLD_SECRET, store: new CookieStore() }), async ({ url }) => {
      const client = new Client(url)
      await client.get('/')
      cookie = client.cookie as string
    })
    await withServer(
      session({ secret: [SECRET, OLD_SECRET], store: new CookieStore() }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/read', headers: { cookie } })
        expect(json(res)).toMatchObject({ isNew: false, data: { views: 1 } })
        const reissued = cookieOf(res) as string
        expect(reissued).toMatch(/^sid=/)
        await withServer(sealed(), async (only) => {
          expect(
            json(await rawRequest(only.url, { path: '/read', headers: { cookie: reissued } }))
          ).toMatchObject({ isNew: false })
        })
      }
    )
  })

  it('should send no cookie when nothing changed, and clear it on destroy', async () => {
    await withServer(sealed(), async ({ url }) => {
      const client = new Client(url)
      await client.get('/')
      expect(setCookies(await client.get('/read'))).toEqual([])
      const out = await client.get('/destroy')
      expect(setCookies(out)[0]).toMatch(/^sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970/)
    })
  })

  it('should carry a new id after regenerate()', async () => {
    await withServer(sealed(), async ({ url }) => {
      const client = new Client(url)
      const before = await client.json('/')
      const after = await client.json('/regenerate')
      expect(after.id).not.toBe(before.id)
      expect((await client.json('/read')).id).toBe(after.id)
    })
  })

  it('should fail with a 500 that reaches onError when the sealed cookie would exceed the limit', async () => {
    const { errors, options } = collectErrors()
    await withServer(
      session({ secret: SECRET, store: new CookieStore({ maxCookieSize: 1024 }) }),
      async ({ url }) => {
        const client = new Client(url)
        expect((await client.get('/set?k=a&v="small"')).status).toBe(200)
        const big = await client.get(`/set?k=b&v="${'x'.repeat(2000)}"`)
        expect(big.status).toBe(500)
        expect(setCookies(big)).toEqual([])
        expect(big.body).not.toContain('sealed')
        // the session in the browser is the last one that fitted
        expect((await client.json('/read')).data).toEqual({ a: 'small' })
      },
      undefined,
      options
    )
    expect(errors).toHaveLength(1)
    expect(errors[0]?.message).toMatch(
      /the sealed session cookie would be \d+ bytes, over the limit of 1024: browsers drop such cookies/
    )
  })

  it('should seal at the head for a streamed response, and refuse changes after it', async () => {
    const thrown: string[] = []
    await withServer(
      sealed(),
      async ({ url }) => {
        const client = new Client(url)
        const res = await client.get('/')
        expect(res.body).toBe('streamed')
        expect(cookieOf(res)).toMatch(/^sid=/)
        expect((await client.json('/read')).data).toEqual({ n: 1 })
        expect(thrown).toEqual([
          expect.stringMatching(
            /session.set\(\) was called after the response head was sent: the session cookie can no longer change/
          ),
        ])
      },
      (req, res) => {
        const s = getSession(req)
        if (req.url === '/read') {
          res.end(JSON.stringify({ id: s.id, isNew: s.isNew, data: { n: s.get('n') } }))
          return
        }
        s.set('n', 1)
        res.write('streamed')
        try {
          s.set('n', 2)
        } catch (err) {
          thrown.push((err as Error).message)
        }
        res.end()
      }
    )
  })
})
