import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError, type Middleware, stack, toConnect } from '@shallot/stack'
import { failOnUnhandledRejections, listen, rawRequest } from '@shallot/test-utils'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { getSession, MemoryStore, type Session, session } from '../src/index.js'
import {
  app,
  Client,
  collectErrors,
  cookieOf,
  json,
  SECRET,
  setCookies,
  withServer,
} from './helpers.js'
import { recording } from './stores.js'

failOnUnhandledRejections()

describe('session: lazy, and written only when changed', () => {
  it('should neither set a cookie nor touch the store for a visitor whose session is never used', async () => {
    const { store, calls } = recording(new MemoryStore())
    const plain = (_req: IncomingMessage, res: ServerResponse) => {
      res.end('ok')
    }
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const res = await rawRequest(url)
        expect(res.body).toBe('ok')
        expect(setCookies(res)).toEqual([])
      },
      plain
    )
    expect(calls).toEqual([])
  })

  it('should neither set a cookie nor write for a session that is read but never changed', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const res = await rawRequest(url, { path: '/read' })
      expect(json(res)).toMatchObject({ isNew: true, data: {} })
      expect(setCookies(res)).toEqual([])
    })
    expect(calls).toEqual([])
  })

  it('should create the session on the first change, with a cookie, and load it afterwards', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      const first = await client.get('/')
      expect(json(first)).toMatchObject({ isNew: true, data: { views: 1 } })
      const line = setCookies(first)[0] as string
      expect(line).toMatch(
        /^sid=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/
      )
      const id = json(first).id
      expect(line.startsWith(`sid=${id}.`)).toBe(true)
      const second = await client.json('/')
      expect(second).toEqual({ id, isNew: false, data: { views: 2 } })
      expect(calls).toEqual([
        `set ${id}`,
        `get ${id}`,
        `patch ${id} {"set":{"views":2},"delete":[]}`,
      ])
    })
  })

  it('should save a new session for every visitor with saveUninitialized', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(
      session({ secret: SECRET, store, saveUninitialized: true }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/read' })
        expect(cookieOf(res)).toMatch(/^sid=/)
        expect(calls).toEqual([`set ${json(res).id}`])
      }
    )
  })

  it('should throw a clear error from getSession without a session layer', async () => {
    const { errors, options } = collectErrors()
    const noop = (next: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>) => next
    const server = await listen(
      stack(
        options,
        noop
      )((req, res) => {
        getSession(req)
        res.end()
      })
    )
    try {
      expect((await rawRequest(server.url)).status).toBe(500)
    } finally {
      await server.close()
    }
    expect(errors[0]?.message).toMatch(
      /getSession\(req\) was called for a request that did not pass through a session\(\) layer/
    )
  })
})

describe('session: the Session API', () => {
  it('should get, set, delete, test and list keys, and clear', async () => {
    await withServer(session({ secret: SECRET }), async ({ url }) => {
      const client = new Client(url)
      await client.json('/set?k=a&v=1')
      await client.json('/set?k=b&v={"x":[1,2]}')
      expect((await client.json('/read')).data).toEqual({ a: 1, b: { x: [1, 2] } })
      await client.json('/delete?k=a')
      expect((await client.json('/read')).data).toEqual({ b: { x: [1, 2] } })
      await client.json('/set?k=c&v=null')
      expect((await client.json('/read')).data).toEqual({ b: { x: [1, 2] }, c: null })
      await client.json('/clear')
      expect((await client.json('/read')).data).toEqual({})
      expect((await client.json('/read')).isNew).toBe(false)
    })
  })

  it('should treat set(key, undefined) as delete and refuse values JSON cannot hold', async () => {
    const { errors, options } = collectErrors()
    await withServer(
      session({ secret: SECRET }),
      async ({ url }) => {
        const client = new Client(url)
        await client.json('/set?k=a&v=1')
        expect((await client.get('/undefined')).status).toBe(200)
        expect((await client.json('/read')).data).toEqual({})
        expect((await client.get('/function')).status).toBe(500)
      },
      async (req, res) => {
        const s = getSession(req)
        if (req.url === '/undefined') s.set('a', undefined)
        if (req.url === '/function') s.set('f', (() => 1) as never)
        if (req.url?.startsWith('/set')) s.set('a', 1)
        res.end(
          JSON.stringify({
            id: s.id,
            isNew: s.isNew,
            data: Object.fromEntries(s.keys().map((k) => [k, s.get(k)])),
          })
        )
      },
      options
    )
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /session.set\("f"\): a function cannot be stored; values must be JSON-compatible/
      ),
    ])
  })

  it('should save objects changed in place after get()', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        await client.get('/init')
        await client.get('/push')
        await client.get('/push')
        const res = await client.get('/read')
        expect(res.body).toBe('{"items":[1,2]}')
        // reading an object without changing it writes nothing
        expect(calls.filter((c) => c.startsWith('patch'))).toHaveLength(2)
      },
      (req, res) => {
        const s = getSession<{ cart: { items: number[] } }>(req)
        if (req.url === '/init') s.set('cart', { items: [] })
        const cart = s.get('cart')
        if (req.url === '/push' && cart !== undefined) cart.items.push(cart.items.length + 1)
        res.end(JSON.stringify(cart))
      }
    )
  })

  it('should regenerate: a new id, the same data, the old id destroyed', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      const before = await client.json('/')
      const oldCookie = client.cookie as string
      const after = await client.json('/regenerate')
      expect(after.id).not.toBe(before.id)
      expect(after.data).toEqual({ views: 1 })
      expect(client.cookie).not.toBe(oldCookie)
      expect(calls.slice(-2)).toEqual([`set ${after.id}`, `destroy ${before.id}`])
      expect((await client.json('/')).data).toEqual({ views: 2 })
      // the old cookie now names nothing: a new, empty session
      const stale = json(await rawRequest(url, { path: '/read', headers: { cookie: oldCookie } }))
      expect(stale).toMatchObject({ isNew: true, data: {} })
    })
  })

  it('should destroy: clear the cookie, delete the record, and start afresh if used again', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        const first = await client.json('/set?k=user&v="ada"')
        const oldCookie = client.cookie as string
        const out = await client.get('/logout')
        expect(setCookies(out)).toEqual([
          'sid=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
        ])
        expect(calls.at(-1)).toBe(`destroy ${first.id}`)
        expect(
          json(await rawRequest(url, { path: '/read', headers: { cookie: oldCookie } }))
        ).toMatchObject({ isNew: true, data: {} })
        // destroy, then use again: a new session with a new id replaces the cookie
        const again = await rawRequest(url, { path: '/relogin', headers: { cookie: oldCookie } })
        const body = json(again)
        expect(body.id).not.toBe(first.id)
        expect(body.data).toEqual({ flash: 'bye' })
        expect(cookieOf(again)?.startsWith(`sid=${body.id}.`)).toBe(true)
      },
      (req, res) => {
        const s = getSession(req)
        if (req.url === '/logout') s.destroy()
        if (req.url === '/relogin') {
          s.destroy()
          s.set('flash', 'bye')
        }
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

  it('should save() now, even a new empty session, and touch() on demand', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      const saved = await client.get('/save')
      const id = json(saved).id
      expect(cookieOf(saved)?.startsWith(`sid=${id}.`)).toBe(true)
      expect(calls).toEqual([`set ${id}`])
      await client.get('/read')
      expect(calls).toEqual([`set ${id}`, `get ${id}`])
      await client.get('/touch')
      expect(calls.slice(2)).toEqual([`get ${id}`, `touch ${id}`])
    })
  })

  it('should write what changes after save() in the same response', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        const res = await client.get('/')
        expect(calls.map((c) => c.split(' ')[0])).toEqual(['set', 'patch'])
        expect((await client.json('/read')).data).toEqual({ a: 1, b: 2 })
        expect(res.status).toBe(200)
      },
      async (req, res) => {
        const s = getSession(req)
        if (req.url === '/') {
          s.set('a', 1)
          await s.save()
          s.set('b', 2)
        }
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

  it('should type get and set by the data type, for interfaces too', () => {
    interface Data {
      views: number
      user: { name: string }
    }
    const check = (req: IncomingMessage) => {
      const s = getSession<Data>(req)
      expectTypeOf(s).toEqualTypeOf<Session<Data>>()
      expectTypeOf(s.get('views')).toEqualTypeOf<number | undefined>()
      expectTypeOf(s.get('user')).toEqualTypeOf<{ name: string } | undefined>()
      // @ts-expect-error not a key of Data
      s.get('nope')
      // @ts-expect-error wrong value type
      s.set('views', 'many')
      expectTypeOf(getSession(req).get('anything')).toEqualTypeOf<unknown>()
    }
    expect(typeof check).toBe('function')
  })
})

describe('session: writes complete before the response is sent', () => {
  it('should let a request made right after a response read what it wrote, with a slow store', async () => {
    const { store } = recording(new MemoryStore(), 40)
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      for (let i = 1; i <= 5; i++) {
        expect((await client.json('/')).data).toEqual({ views: i })
      }
    })
  })

  it('should hold the end of a streamed response until the write is acknowledged', async () => {
    const { store, calls } = recording(new MemoryStore(), 30)
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        const first = await client.get('/')
        expect(first.body).toBe('part 1 part 2')
        expect(cookieOf(first)).toMatch(/^sid=/)
        const second = await client.get('/')
        expect(second.body).toBe('part 1 part 2')
        expect(calls.map((c) => c.split(' ')[0])).toEqual(['set', 'get', 'patch'])
        const read = await client.get('/count')
        expect(read.body).toBe('3')
      },
      async (req, res) => {
        const s = getSession<{ n: number }>(req)
        if (req.url === '/count') {
          res.end(String(s.get('n')))
          return
        }
        s.set('n', (s.get('n') ?? 0) + 1)
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('part 1 ')
        await new Promise((r) => setTimeout(r, 5))
        // changes of a stored session after the head are still written at the end
        s.set('n', (s.get('n') ?? 0) + (req.headers.cookie ? 1 : 0))
        res.end('part 2')
      }
    )
  })

  it('should refuse to start a session after the head was sent, and any change after end()', async () => {
    const { errors, options } = collectErrors()
    const thrown: string[] = []
    await withServer(
      session({ secret: SECRET }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.body).toBe('streamed')
        expect(setCookies(res)).toEqual([])
        expect(thrown).toEqual([
          expect.stringMatching(
            /session.set\(\) was called after the response head was sent: a new session cannot start then/
          ),
          expect.stringMatching(/session.set\(\) was called after res.end\(\)/),
        ])
      },
      (req, res) => {
        const s = getSession(req)
        res.write('streamed')
        try {
          s.set('a', 1)
        } catch (err) {
          thrown.push((err as Error).message)
        }
        res.end()
        try {
          s.set('b', 1)
        } catch (err) {
          thrown.push((err as Error).message)
        }
      },
      options
    )
    expect(errors).toEqual([])
  })

  it('should write nothing for a response the boundary renders from an error', async () => {
    const { store, calls } = recording(new MemoryStore())
    const { errors, options } = collectErrors()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(409)
        expect(setCookies(res)).toEqual([])
      },
      (req) => {
        getSession(req).set('half', 'done')
        throw new HttpError(409, 'Conflict')
      },
      options
    )
    expect(calls).toEqual([])
    expect(errors).toHaveLength(1)
  })
})

describe('session: with other layers and adapters', () => {
  it('should write the session when an inner layer wraps res.end (as compression does)', async () => {
    const wrapEnd: Middleware = (next) => (req, res) => {
      const end = res.end
      res.end = function (this: ServerResponse, chunk?: unknown) {
        res.setHeader('x-wrapped', 'yes')
        if (chunk !== undefined) res.write(String(chunk).toUpperCase())
        return (end as () => ServerResponse).call(res)
      } as ServerResponse['end']
      return next(req, res)
    }
    await withServer([session({ secret: SECRET }), wrapEnd], async ({ url }) => {
      const client = new Client(url)
      const first = await client.get('/')
      expect(first.headers['x-wrapped']).toBe('yes')
      expect(first.body).toMatch(/"VIEWS":1/)
      expect(cookieOf(first)).toMatch(/^sid=/)
      expect((await client.get('/')).body).toMatch(/"VIEWS":2/)
    })
  })

  it('should work inside Express/Connect through toConnect', async () => {
    const mw = toConnect(session({ secret: SECRET }))
    const server = await listen((req, res) => {
      mw(req, res, (err) => {
        if (err) {
          res.statusCode = 500
          res.end(String(err))
          return
        }
        void app(req, res)
      })
    })
    try {
      const client = new Client(server.url)
      expect((await client.json('/')).data).toEqual({ views: 1 })
      expect((await client.json('/')).data).toEqual({ views: 2 })
    } finally {
      await server.close()
    }
  })
})

describe('session: concurrent requests of one session', () => {
  it('should keep every key written by concurrent requests (per-key patches)', async () => {
    await withServer(
      session({ secret: SECRET }),
      async ({ url }) => {
        const client = new Client(url)
        await client.json('/set?k=start&v=0')
        const cookie = client.cookie as string
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            rawRequest(url, { path: `/slow?k=k${i}`, headers: { cookie } })
          )
        )
        const data = (await client.json('/read')).data
        expect(Object.keys(data).sort()).toEqual(
          ['start', ...Array.from({ length: 20 }, (_, i) => `k${i}`)].sort()
        )
      },
      async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x')
        const s = getSession(req)
        if (url.pathname === '/slow') {
          // every request has loaded the session before any of them writes
          await new Promise((r) => setTimeout(r, 20))
          s.set(url.searchParams.get('k') as string, true)
        } else if (url.pathname === '/set') s.set('start', 0)
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

  it('should let the last write win on the same key', async () => {
    await withServer(
      session({ secret: SECRET }),
      async ({ url }) => {
        const client = new Client(url)
        await client.json('/set?k=v&v=0')
        const cookie = client.cookie as string
        // /slow?d=40 writes after /slow?d=5 although it started first
        await Promise.all([
          rawRequest(url, { path: '/slow?d=40&v=first', headers: { cookie } }),
          rawRequest(url, { path: '/slow?d=5&v=second', headers: { cookie } }),
        ])
        expect((await client.json('/read')).data).toEqual({ v: 'first' })
      },
      async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x')
        const s = getSession(req)
        if (url.pathname === '/slow') {
          await new Promise((r) => setTimeout(r, Number(url.searchParams.get('d'))))
          s.set('v', url.searchParams.get('v'))
        } else if (url.pathname === '/set') s.set('v', 0)
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

describe('session: req.session for code ported from Express', () => {
  it('should expose the data as properties and the methods with callbacks', async () => {
    type Req = IncomingMessage & {
      session: Record<string, unknown> & {
        regenerate(cb: (err?: unknown) => void): void
        destroy(cb: (err?: unknown) => void): void
        save(cb: (err?: unknown) => void): void
        id: string
      }
    }
    await withServer(
      session({ secret: SECRET, property: true }),
      async ({ url }) => {
        const client = new Client(url)
        expect((await client.get('/')).body).toBe('1')
        expect((await client.get('/')).body).toBe('2')
        const before = client.cookie
        expect((await client.get('/login')).body).toBe('ada 2')
        expect(client.cookie).not.toBe(before)
        expect((await client.get('/keys')).body).toBe('["views","user"] true false')
        const out = await client.get('/logout')
        expect(cookieOf(out)).toBe('sid=')
        expect((await client.get('/')).body).toBe('1')
      },
      (req, res) => {
        const s = (req as Req).session
        if (req.url === '/login') {
          s.regenerate((err) => {
            if (err) throw err
            s.user = 'ada'
            s.save(() => res.end(`${s.user as string} ${s.views as number}`))
          })
          return
        }
        if (req.url === '/logout') {
          s.destroy(() => res.end('bye'))
          return
        }
        if (req.url === '/keys') {
          res.end(`${JSON.stringify(Object.keys(s))} ${'user' in s} ${'nope' in s}`)
          return
        }
        s.views = ((s.views as number | undefined) ?? 0) + 1
        res.end(String(s.views))
      }
    )
  })

  it('should refuse `delete req.session`, which would keep the session alive, and nest', async () => {
    await withServer(
      stack(
        session({ secret: SECRET, property: true }),
        session({ secret: SECRET, property: true })
      ),
      async ({ url }) => {
        expect((await rawRequest(url)).body).toBe('TypeError object')
      },
      (req, res) => {
        const r = req as unknown as Record<string, unknown>
        let outcome = 'deleted'
        try {
          delete r.session
        } catch (err) {
          outcome = (err as Error).name
        }
        res.end(`${outcome} ${typeof r.session}`)
      }
    )
  })

  it('should use the property name given', async () => {
    await withServer(
      session({ secret: SECRET, property: 'sess' }),
      async ({ url }) => {
        expect((await rawRequest(url)).body).toBe('object undefined')
      },
      (req, res) => {
        const r = req as unknown as Record<string, unknown>
        res.end(`${typeof r.sess} ${typeof r.session}`)
      }
    )
  })
})
