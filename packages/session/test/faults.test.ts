import type { IncomingMessage } from 'node:http'
import { HttpError, type Middleware, onHeaders } from '@shallot/stack'
import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getSession, MemoryStore, type SessionStore, session } from '../src/index.js'
import { Client, collectErrors, json, SECRET, setCookies, withServer } from './helpers.js'
import { brokenStore, recording } from './stores.js'

failOnUnhandledRejections()

/** A MemoryStore whose writes (or reads) can be switched off. */
function switchable(): { store: SessionStore; down: { reads: boolean; writes: boolean } } {
  const memory = new MemoryStore()
  const down = { reads: false, writes: false }
  const fail = () => Promise.reject(new Error('ECONNRESET (test)'))
  const store: SessionStore = {
    get: (id) => (down.reads ? fail() : memory.get(id)),
    set: (id, r, t) => (down.writes ? fail() : memory.set(id, r, t)),
    destroy: (id) => (down.writes ? fail() : memory.destroy(id)),
    touch: (id, l, t) => (down.writes ? fail() : memory.touch(id, l, t)),
    patch: (id, p, t) => (down.writes ? fail() : memory.patch(id, p, t)),
  }
  return { store, down }
}

describe('session: a failing store', () => {
  it('should answer 503 when the session cannot be loaded, and report it to onError', async () => {
    const { errors, options } = collectErrors()
    const { store, down } = switchable()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        await client.get('/')
        down.reads = true
        const res = await client.get('/', { accept: 'application/json' })
        expect(res.status).toBe(503)
        expect(JSON.parse(res.body)).toEqual({
          statusCode: 503,
          error: 'Service Unavailable',
          message: 'Session store unavailable',
        })
        expect(setCookies(res)).toEqual([])
        down.reads = false
        expect((await client.json('/')).data).toEqual({ views: 2 })
      },
      undefined,
      options
    )
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(HttpError)
    expect((errors[0] as HttpError).status).toBe(503)
    expect((errors[0]?.cause as Error | undefined)?.message).toBe('ECONNRESET (test)')
  })

  it('should answer 503 instead of the response when the write fails, before anything is sent', async () => {
    const { errors, options } = collectErrors()
    const { store, down } = switchable()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        down.writes = true
        const first = await client.get('/')
        expect(first.status).toBe(503)
        expect(first.body).toBe('Session store unavailable\n')
        expect(setCookies(first)).toEqual([])
        down.writes = false
        await client.get('/')
        down.writes = true
        const failed = await client.get('/')
        expect(failed.status).toBe(503)
        down.writes = false
        expect((await client.json('/read')).data).toEqual({ views: 1 })
      },
      undefined,
      options
    )
    expect(errors.map((e) => (e as HttpError).status)).toEqual([503, 503])
  })

  it('should time out a store that does not answer (storeTimeout)', async () => {
    const { errors, options } = collectErrors()
    await withServer(
      session({ secret: SECRET, store: brokenStore(true), storeTimeout: 50 }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(503)
      },
      undefined,
      options
    )
    expect((errors[0]?.cause as Error | undefined)?.message).toMatch(
      /did not answer within 50 ms \(storeTimeout\)/
    )
  })

  it("should go on without a session with onStoreError: 'continue'", async () => {
    const { store, down } = switchable()
    const logged: unknown[] = []
    await withServer(
      session({
        secret: SECRET,
        store,
        onStoreError: (err, _req, phase) => {
          logged.push([phase, err.message])
          return 'continue'
        },
      }),
      async ({ url }) => {
        const client = new Client(url)
        await client.get('/')
        const cookie = client.cookie
        down.reads = true
        // loaded nothing: an empty session that is never written and sets no cookie
        const res = await client.get('/available')
        expect(res.status).toBe(200)
        expect(res.body).toBe('false 1')
        expect(setCookies(res)).toEqual([])
        expect(client.cookie).toBe(cookie)
        down.reads = false
        down.writes = true
        // the write fails: the response is sent anyway, without a cookie change
        const written = await client.get('/available')
        expect(written.body).toBe('true 2')
        down.writes = false
        expect((await client.get('/available')).body).toBe('true 2')
      },
      (req, res) => {
        const s = getSession<{ views: number }>(req)
        s.set('views', (s.get('views') ?? 0) + 1)
        res.end(`${s.available} ${s.get('views')}`)
      }
    )
    expect(logged).toEqual([
      ['load', 'ECONNRESET (test)'],
      ['write', 'ECONNRESET (test)'],
    ])
  })

  it('should let save() reject when the store fails, so the application can decide', async () => {
    const { store, down } = switchable()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        down.writes = true
        const res = await client.get('/')
        expect(res.body).toBe('saved: no (Session store unavailable)')
      },
      async (req, res) => {
        const s = getSession(req)
        s.set('a', 1)
        try {
          await s.save()
          res.end('saved: yes')
        } catch (err) {
          s.delete('a')
          res.end(`saved: no (${(err as Error).message})`)
        }
      }
    )
  })

  it('should answer 500 (not 503) for data the store cannot serialize', async () => {
    const { errors, options } = collectErrors()
    await withServer(
      session({ secret: SECRET }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(500)
        expect(res.body).toBe('Internal Server Error\n')
      },
      (req, res) => {
        getSession(req).set('n', { big: 1n } as never)
        res.end('ok')
      },
      options
    )
    expect(errors[0]?.message).toBe('Session data cannot be stored')
    expect((errors[0]?.cause as { code: string } | undefined)?.code).toBe('ERR_SESSION_DATA')
  })

  it('should answer and report a failure itself when the handler returned before res.end()', async () => {
    const { errors, options } = collectErrors()
    const { store, down } = switchable()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        down.writes = true
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(503)
        expect(res.body).toBe('Session store unavailable\n')
        expect(setCookies(res)).toEqual([])
        expect(res.headers['x-app']).toBe('set before')
      },
      // callback style: returns at once, answers later
      (req: IncomingMessage, res) => {
        setTimeout(() => {
          getSession(req).set('late', true)
          res.setHeader('x-app', 'set before')
          res.setHeader('content-type', 'application/json')
          res.end('{"ok":true}')
        }, 5)
      },
      options
    )
    await expect.poll(() => errors.length).toBe(1)
    expect((errors[0] as HttpError).status).toBe(503)
  })

  it('should cut a streamed response whose final write fails', async () => {
    const { errors, options } = collectErrors()
    const { store, down } = switchable()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        await client.get('/')
        down.writes = true
        await expect(client.get('/stream')).rejects.toThrow()
      },
      async (req, res) => {
        const s = getSession<{ views: number }>(req)
        s.set('views', (s.get('views') ?? 0) + 1)
        if (req.url === '/stream') {
          res.write('partial')
          await new Promise((r) => setTimeout(r, 5))
        }
        res.end(JSON.stringify({ id: s.id, isNew: s.isNew, data: { views: s.get('views') } }))
      },
      options
    )
    expect(errors.map((e) => (e as HttpError).status)).toEqual([503])
  })

  it("should hand another layer's failing onHeaders listener to the boundary after an async write", async () => {
    const { errors, options } = collectErrors()
    const { store } = recording(new MemoryStore(), 5)
    const failing: Middleware = (next) => (req, res) => {
      onHeaders(res, () => {
        throw new Error('listener failed')
      })
      return next(req, res)
    }
    await withServer(
      [failing, session({ secret: SECRET, store })],
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(500)
      },
      undefined,
      options
    )
    expect(errors.map((e) => e.message)).toEqual(['listener failed'])
  })

  it('should discard a session that another request destroyed meanwhile', async () => {
    await withServer(
      session({ secret: SECRET }),
      async ({ url }) => {
        const client = new Client(url)
        await client.json('/set?k=user&v="ada"')
        const cookie = client.cookie as string
        const [slow] = await Promise.all([
          rawRequest(url, { path: '/slow', headers: { cookie } }),
          new Promise((r) => setTimeout(r, 5)).then(() =>
            rawRequest(url, { path: '/destroy', headers: { cookie } })
          ),
        ])
        // the patch found no record: no resurrection, and the cookie is cleared
        expect(setCookies(slow)[0]).toMatch(/^sid=; Max-Age=0/)
        expect(json(await rawRequest(url, { path: '/read', headers: { cookie } }))).toMatchObject({
          isNew: true,
          data: {},
        })
      },
      async (req, res) => {
        const s = getSession(req)
        if (req.url === '/slow') {
          await new Promise((r) => setTimeout(r, 40))
          s.set('cart', [1])
        }
        if (req.url === '/destroy') s.destroy()
        if (req.url?.startsWith('/set')) s.set('user', 'ada')
        res.end(
          JSON.stringify({
            id: s.id,
            isNew: s.isNew,
            data: Object.fromEntries(s.keys().map((k) => [k, s.get(k)])),
          })
        )
      }
    )
  })
})
