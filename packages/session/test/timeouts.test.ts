import { rawRequest } from '@shallot/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  CookieStore,
  MemoryStore,
  type SessionRecord,
  type SessionStore,
  session,
} from '../src/index.js'
import { Client, json, SECRET, setCookies, withServer } from './helpers.js'
import { recording } from './stores.js'

const T0 = Date.parse('2030-01-01T00:00:00Z')
const MIN = 60_000
const at = (ms: number) => vi.setSystemTime(T0 + ms)

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  at(0)
})
afterEach(() => {
  vi.useRealTimers()
})

describe('session: idle timeout', () => {
  it('should end a session idle for idleTimeout, and keep one in use alive past it', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(
      session({ secret: SECRET, store, idleTimeout: 10 * MIN, touchAfter: MIN }),
      async ({ url }) => {
        const client = new Client(url)
        const { id } = await client.json('/')
        at(9 * MIN)
        expect(await client.json('/read')).toMatchObject({ id, isNew: false })
        at(18 * MIN)
        expect(await client.json('/read')).toMatchObject({ id, isNew: false })
        // idle for 10 minutes since the last refresh (18 min): over
        at(28 * MIN)
        const after = await client.json('/read')
        expect(after).toMatchObject({ isNew: true, data: {} })
        expect(calls).toContain(`touch ${id}`)
      }
    )
  })

  it('should refresh the store at most once per touchAfter', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(
      session({ secret: SECRET, store, idleTimeout: 10 * MIN, touchAfter: MIN }),
      async ({ url }) => {
        const client = new Client(url)
        const { id } = await client.json('/')
        for (let s = 10; s <= 170; s += 10) {
          at(s * 1000)
          await client.json('/read')
        }
        expect(calls.filter((c) => c === `touch ${id}`)).toHaveLength(2)
      }
    )
  })
})

describe('session: absolute timeout', () => {
  it('should end a session absoluteTimeout after its creation however active', async () => {
    const { store } = recording(new MemoryStore())
    await withServer(
      session({
        secret: SECRET,
        store,
        idleTimeout: 10 * MIN,
        absoluteTimeout: 30 * MIN,
        touchAfter: MIN,
      }),
      async ({ url }) => {
        const client = new Client(url)
        const { id } = await client.json('/')
        const stolen = client.cookie as string
        for (let m = 5; m < 30; m += 5) {
          at(m * MIN)
          expect(await client.json('/')).toMatchObject({ id, isNew: false })
        }
        at(29 * MIN)
        // the cookie's Max-Age counts down to the absolute deadline
        const res = await client.get('/')
        expect(setCookies(res)[0]).toMatch(/Max-Age=60;/)
        at(30 * MIN)
        expect(await client.json('/read')).toMatchObject({ isNew: true, data: {} })
        // a copy of the cookie is worth nothing either
        expect(
          json(await rawRequest(url, { path: '/read', headers: { cookie: stolen } }))
        ).toMatchObject({ isNew: true })
      }
    )
  })

  it('should check the deadlines itself when a store keeps records longer, and destroy them', async () => {
    // a store that ignores ttlMs
    const records = new Map<string, SessionRecord>()
    const lax: SessionStore = {
      get: async (id) => records.get(id),
      set: async (id, record) => {
        records.set(id, structuredClone(record))
      },
      destroy: async (id) => {
        records.delete(id)
      },
    }
    await withServer(
      session({ secret: SECRET, store: lax, idleTimeout: 10 * MIN, absoluteTimeout: 30 * MIN }),
      async ({ url }) => {
        const client = new Client(url)
        const { id } = await client.json('/')
        at(10 * MIN)
        expect(await client.json('/read')).toMatchObject({ isNew: true, data: {} })
        await vi.waitFor(() => expect(records.has(id)).toBe(false))
      }
    )
  })

  it('should restart the absolute timeout on regenerate()', async () => {
    await withServer(
      session({ secret: SECRET, idleTimeout: 20 * MIN, absoluteTimeout: 20 * MIN }),
      async ({ url }) => {
        const client = new Client(url)
        await client.json('/')
        at(15 * MIN)
        const { id } = await client.json('/regenerate')
        // 24 minutes after creation, 9 after regenerate()
        at(24 * MIN)
        expect(await client.json('/read')).toMatchObject({ id, isNew: false, data: { views: 1 } })
      }
    )
  })

  it('should enforce both timeouts on sealed cookies, whose payload carries them', async () => {
    await withServer(
      session({
        secret: SECRET,
        store: new CookieStore(),
        idleTimeout: 10 * MIN,
        absoluteTimeout: 30 * MIN,
      }),
      async ({ url }) => {
        const client = new Client(url)
        await client.json('/')
        const stolen = client.cookie as string
        at(9 * MIN)
        expect((await client.json('/')).data).toEqual({ views: 2 })
        // idle: the copy taken at 0 was last refreshed at 0
        at(11 * MIN)
        expect(
          json(await rawRequest(url, { path: '/read', headers: { cookie: stolen } }))
        ).toMatchObject({ isNew: true })
        expect((await client.json('/')).data).toEqual({ views: 3 })
        at(20 * MIN)
        expect((await client.json('/')).data).toEqual({ views: 4 })
        const fresh = client.cookie as string
        // absolute: even a freshly refreshed cookie is refused after 30 minutes
        at(30 * MIN)
        expect(
          json(await rawRequest(url, { path: '/read', headers: { cookie: fresh } }))
        ).toMatchObject({ isNew: true, data: {} })
      }
    )
  })
})
