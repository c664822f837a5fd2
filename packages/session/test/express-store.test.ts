import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import expressSession from 'express-session'
import { describe, expect, it } from 'vitest'
import { type ExpressStoreLike, fromExpressStore, session } from '../src/index.js'
import { Client, collectErrors, json, SECRET, withServer } from './helpers.js'

failOnUnhandledRejections()

const promisify =
  <T>(fn: (cb: (err: unknown, value?: T) => void) => void) =>
  () =>
    new Promise<T | undefined>((resolve, reject) =>
      fn((err, value) => (err ? reject(err) : resolve(value)))
    )

describe('fromExpressStore: express-session stores work unchanged', () => {
  it("should keep sessions in express-session's own MemoryStore", async () => {
    const memory = new expressSession.MemoryStore()
    const store = fromExpressStore(memory)
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      const { id } = await client.json('/')
      expect(await client.json('/')).toEqual({ id, isNew: false, data: { views: 2 } })
      // what the express store holds: its cookie (for its TTL) and our record
      const raw = (await promisify<unknown>((cb) => memory.get(id, cb))()) as {
        cookie: { expires: string; originalMaxAge: number }
        shallot: { data: unknown }
      }
      expect(raw.shallot.data).toEqual({ views: 2 })
      expect(Date.parse(raw.cookie.expires) - Date.now()).toBeGreaterThan(86_000_000)
      const regenerated = await client.json('/regenerate')
      expect(regenerated.data).toEqual({ views: 2 })
      expect(await promisify<unknown>((cb) => memory.get(id, cb))()).toBeUndefined()
      await client.json('/set?k=user&v="ada"')
      expect((await client.json('/delete?k=views')).data).toEqual({ user: 'ada' })
      expect((await client.json('/read')).data).toEqual({ user: 'ada' })
      await client.get('/destroy')
      expect(await promisify<unknown>((cb) => memory.get(regenerated.id, cb))()).toBeUndefined()
    })
    expect(await store.length?.()).toBe(0)
  })

  it('should pass clear and length through', async () => {
    const store = fromExpressStore(new expressSession.MemoryStore())
    const record = { data: { a: 1 }, createdAt: Date.now(), lastSeen: Date.now() }
    await store.set('aaaaaaaaaaaaaaaa', record, 60_000)
    await store.set('bbbbbbbbbbbbbbbb', record, 60_000)
    expect(await store.length?.()).toBe(2)
    expect(await store.get('aaaaaaaaaaaaaaaa')).toEqual(record)
    await store.clear?.()
    expect(await store.length?.()).toBe(0)
  })

  it('should read a session the adapter did not write (an express-session one) as missing', async () => {
    const memory = new expressSession.MemoryStore()
    memory.set(
      'cccccccccccccccc',
      { cookie: { expires: null, originalMaxAge: null }, user: 'eve' },
      () => {}
    )
    expect(await fromExpressStore(memory).get('cccccccccccccccc')).toBeUndefined()
  })

  it('should survive a store that calls back twice, throws, or fails', async () => {
    const weird: ExpressStoreLike = {
      get: (sid, cb) => {
        if (sid.startsWith('t')) throw new Error('thrown synchronously')
        cb(null, undefined)
        cb(new Error('second callback'))
      },
      set: (_sid, _sess, cb) => cb?.(new Error('disk full')),
      destroy: (_sid, cb) => {
        cb?.()
        cb?.()
      },
    }
    const store = fromExpressStore(weird)
    expect(await store.get('aaaaaaaaaaaaaaaa')).toBeUndefined()
    await expect(store.get('tttttttttttttttt')).rejects.toThrow('thrown synchronously')
    await expect(
      store.set('aaaaaaaaaaaaaaaa', { data: {}, createdAt: 1, lastSeen: 1 }, 1000)
    ).rejects.toThrow('disk full')
    await expect(store.destroy('aaaaaaaaaaaaaaaa')).resolves.toBeUndefined()
    expect(store.clear).toBeUndefined()
    const { errors, options } = collectErrors()
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(503)
        expect(res.body).toBe('Session store unavailable\n')
      },
      undefined,
      options
    )
    expect(errors[0]?.message).toBe('Session store unavailable')
    expect((errors[0]?.cause as Error | undefined)?.message).toBe('disk full')
  })

  it('should merge concurrent changes to different keys by reading before writing', async () => {
    const store = fromExpressStore(new expressSession.MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      await client.json('/set?k=a&v=1')
      const cookie = client.cookie as string
      // sequential requests that each change one key: nothing is lost
      await rawRequest(url, { path: '/set?k=b&v=2', headers: { cookie } })
      await rawRequest(url, { path: '/set?k=c&v=3', headers: { cookie } })
      expect(json(await rawRequest(url, { path: '/read', headers: { cookie } })).data).toEqual({
        a: 1,
        b: 2,
        c: 3,
      })
    })
  })
})
