import { failOnUnhandledRejections, RedisServer, rawRequest } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getSession, RedisStore, type SessionRecord, session } from '../src/index.js'
import { Client, json, SECRET, setCookies, withServer } from './helpers.js'
import { makers, type TestClient } from './redis-clients.js'

failOnUnhandledRejections()

let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis?.stop()
})

const record = (data: Record<string, unknown>, at = Date.now()): SessionRecord => ({
  data,
  createdAt: at,
  lastSeen: at,
})

describe.each(makers)('RedisStore with %s', (_name, make) => {
  let t: TestClient
  let prefix: string
  let store: RedisStore
  beforeAll(async () => {
    t = await make(redis.port)
    prefix = `test:${_name}:`
    store = new RedisStore({ client: t.client, prefix })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('should keep one HASH per session: a field per key and the two instants, with a TTL', async () => {
    const at = Date.now()
    await store.set('aaaaaaaaaaaaaaaa', record({ user: 'ada', cart: [1, 2] }, at), 60_000)
    const raw = (await t.command(['HGETALL', `${prefix}aaaaaaaaaaaaaaaa`])) as unknown
    const fields = Array.isArray(raw)
      ? Object.fromEntries(
          Array.from({ length: raw.length / 2 }, (_, i) => [raw[2 * i], raw[2 * i + 1]])
        )
      : raw
    expect(fields).toEqual({
      'm:createdAt': String(at),
      'm:lastSeen': String(at),
      'd:user': '"ada"',
      'd:cart': '[1,2]',
    })
    const ttl = Number(await t.command(['PTTL', `${prefix}aaaaaaaaaaaaaaaa`]))
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(await store.get('aaaaaaaaaaaaaaaa')).toEqual(record({ user: 'ada', cart: [1, 2] }, at))
    expect(await store.get('missing-session-id')).toBeUndefined()
  })

  it('should replace the whole hash on set', async () => {
    await store.set('bbbbbbbbbbbbbbbb', record({ a: 1, b: 2 }), 60_000)
    await store.set('bbbbbbbbbbbbbbbb', record({ c: 3 }), 60_000)
    expect((await store.get('bbbbbbbbbbbbbbbb'))?.data).toEqual({ c: 3 })
  })

  it('should patch only the given fields, and never resurrect a destroyed session', async () => {
    await store.set('cccccccccccccccc', record({ keep: 1, change: 1, drop: 1 }), 60_000)
    expect(
      await store.patch(
        'cccccccccccccccc',
        { set: { change: 2, add: { x: 1 } }, delete: ['drop'], lastSeen: 42 },
        120_000
      )
    ).toBe(true)
    const got = await store.get('cccccccccccccccc')
    expect(got?.data).toEqual({ keep: 1, change: 2, add: { x: 1 } })
    expect(got?.lastSeen).toBe(42)
    expect(Number(await t.command(['PTTL', `${prefix}cccccccccccccccc`]))).toBeGreaterThan(100_000)
    await store.destroy('cccccccccccccccc')
    expect(
      await store.patch('cccccccccccccccc', { set: { late: 1 }, delete: [], lastSeen: 43 }, 60_000)
    ).toBe(false)
    expect(Number(await t.command(['EXISTS', `${prefix}cccccccccccccccc`]))).toBe(0)
  })

  it('should touch: move lastSeen and the TTL without rewriting data', async () => {
    await store.set('dddddddddddddddd', record({ a: 1 }, 1000), 10_000)
    await store.touch('dddddddddddddddd', 2000, 90_000)
    expect(await store.get('dddddddddddddddd')).toEqual({
      data: { a: 1 },
      createdAt: 1000,
      lastSeen: 2000,
    })
    expect(Number(await t.command(['PTTL', `${prefix}dddddddddddddddd`]))).toBeGreaterThan(80_000)
    await store.touch('never-existed-xx', 1, 1000)
    expect(Number(await t.command(['EXISTS', `${prefix}never-existed-xx`]))).toBe(0)
  })

  it('should read a hash with a field that does not parse, or without its instants, as missing', async () => {
    await store.set('eeeeeeeeeeeeeeee', record({ a: 1 }), 60_000)
    await t.command(['HSET', `${prefix}eeeeeeeeeeeeeeee`, 'd:broken', '{not json'])
    expect(await store.get('eeeeeeeeeeeeeeee')).toBeUndefined()
    await t.command(['HSET', `${prefix}ffffffffffffffff`, 'd:a', '1'])
    expect(await store.get('ffffffffffffffff')).toBeUndefined()
    await t.command(['SET', `${prefix}gggggggggggggggg`, 'a string, not a hash'])
    await expect(store.get('gggggggggggggggg')).rejects.toThrow(/WRONGTYPE/)
  })

  it('should use a custom serializer for each value', async () => {
    const custom = new RedisStore({
      client: t.client,
      prefix: `${prefix}ser:`,
      serializer: {
        stringify: (v) => `<${JSON.stringify(v)}>`,
        parse: (s) => JSON.parse(s.slice(1, -1)) as unknown,
      },
    })
    await custom.set('hhhhhhhhhhhhhhhh', record({ n: 1 }), 60_000)
    expect(await t.command(['HGET', `${prefix}ser:hhhhhhhhhhhhhhhh`, 'd:n'])).toBe('<1>')
    expect((await custom.get('hhhhhhhhhhhhhhhh'))?.data).toEqual({ n: 1 })
    await expect(custom.set('iiiiiiiiiiiiiiii', record({ n: 1n }), 1000)).rejects.toMatchObject({
      code: 'ERR_SESSION_DATA',
    })
  })

  it('should count and clear only the sessions of its prefix', async () => {
    const scoped = new RedisStore({ client: t.client, prefix: `${prefix}count:`, scanCount: 2 })
    for (let i = 0; i < 7; i++) await scoped.set(`session-number-${i}`, record({ i }), 60_000)
    expect(await scoped.length()).toBe(7)
    await scoped.clear()
    expect(await scoped.length()).toBe(0)
    expect(await store.get('aaaaaaaaaaaaaaaa')).toBeDefined()
  })

  it('should serve sessions, and keep every key of concurrent requests', async () => {
    await withServer(
      session({ secret: SECRET, store }),
      async ({ url }) => {
        const client = new Client(url)
        const { id } = await client.json('/')
        expect(await client.json('/')).toEqual({ id, isNew: false, data: { views: 2 } })
        const cookie = client.cookie as string
        await Promise.all(
          Array.from({ length: 15 }, (_, i) =>
            rawRequest(url, { path: `/slow?k=k${i}`, headers: { cookie } })
          )
        )
        const data = (await client.json('/read')).data
        expect(Object.keys(data).sort()).toEqual(
          ['views', ...Array.from({ length: 15 }, (_, i) => `k${i}`)].sort()
        )
        // a key written by another process meanwhile survives this one's patch
        await t.command(['HSET', `${prefix}${id}`, 'd:fromElsewhere', '"yes"'])
        await client.json('/')
        expect((await client.json('/read')).data).toMatchObject({ views: 3, fromElsewhere: 'yes' })
        const gone = await client.get('/destroy')
        expect(setCookies(gone)[0]).toMatch(/^sid=; Max-Age=0/)
        expect(Number(await t.command(['EXISTS', `${prefix}${id}`]))).toBe(0)
      },
      async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x')
        const s = getSession(req)
        if (url.pathname === '/') s.set('views', ((s.get('views') as number | undefined) ?? 0) + 1)
        if (url.pathname === '/slow') {
          await new Promise((r) => setTimeout(r, 20))
          s.set(url.searchParams.get('k') as string, true)
        }
        if (url.pathname === '/destroy') s.destroy()
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

  it('should give a session whose stored JSON is corrupt a fresh session', async () => {
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const client = new Client(url)
      const { id } = await client.json('/')
      await t.command(['HSET', `${prefix}${id}`, 'd:views', '{"truncated'])
      const res = await client.get('/read')
      expect(res.status).toBe(200)
      expect(json(res)).toMatchObject({ isNew: true, data: {} })
    })
  })
})
