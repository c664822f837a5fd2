import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore, type SessionRecord } from '../src/index.js'

const record = (data: Record<string, unknown> = {}): SessionRecord => ({
  data,
  createdAt: 1,
  lastSeen: 1,
})

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('MemoryStore', () => {
  it("should keep copies: later changes to the caller's objects do not leak in", async () => {
    const store = new MemoryStore()
    const data = { cart: [1] }
    await store.set('a', record(data), 60_000)
    data.cart.push(2)
    const got = await store.get('a')
    expect(got?.data).toEqual({ cart: [1] })
    ;(got?.data.cart as number[] | undefined)?.push(3)
    expect((await store.get('a'))?.data).toEqual({ cart: [1] })
  })

  it('should evict the least recently used session beyond maxEntries, and warn once', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const store = new MemoryStore({ maxEntries: 3 })
    for (const id of ['a', 'b', 'c']) await store.set(id, record({ id }), 60_000)
    await store.get('a') // a is now the most recently used
    await store.set('d', record(), 60_000)
    expect(await store.get('b')).toBeUndefined()
    expect(await store.length()).toBe(3)
    await store.touch('c', 2, 60_000)
    await store.set('e', record(), 60_000)
    expect(await store.get('a')).toBeUndefined()
    expect(await store.get('c')).toBeDefined()
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/MemoryStore is full \(maxEntries: 3\)/)
  })

  it('should expire entries lazily on access and sweep them as writes go on', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(0)
    const store = new MemoryStore()
    await store.set('short', record(), 1000)
    await store.set('long', record(), 100_000)
    vi.setSystemTime(1000)
    expect(await store.get('short')).toBeUndefined()
    expect(await store.get('long')).toBeDefined()
    for (let i = 0; i < 500; i++) await store.set(`x${i}`, record(), 1000)
    vi.setSystemTime(5000)
    // no access to the x entries: the amortised sweep removes them once enough writes happen
    for (let i = 0; i < 1000; i++) await store.set(`y${i}`, record(), 100_000)
    expect((store as unknown as { entries: Map<string, unknown> }).entries.size).toBe(1001)
  })

  it('should patch only the keys given, atomically, and refuse a missing record', async () => {
    const store = new MemoryStore()
    await store.set('a', record({ keep: 1, change: 1, drop: 1 }), 60_000)
    expect(
      await store.patch('a', { set: { change: 2, add: 3 }, delete: ['drop'], lastSeen: 5 }, 60_000)
    ).toBe(true)
    expect(await store.get('a')).toEqual({
      data: { keep: 1, change: 2, add: 3 },
      createdAt: 1,
      lastSeen: 5,
    })
    expect(await store.patch('nope', { set: { x: 1 }, delete: [], lastSeen: 5 }, 60_000)).toBe(
      false
    )
    expect(await store.get('nope')).toBeUndefined()
  })

  it('should store a "__proto__" key as data, without touching prototypes', async () => {
    const store = new MemoryStore()
    await store.set(
      'a',
      record(JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>),
      60_000
    )
    await store.patch(
      'a',
      {
        set: JSON.parse('{"__proto__":{"polluted":2}}') as Record<string, unknown>,
        delete: [],
        lastSeen: 2,
      },
      60_000
    )
    const got = await store.get('a')
    expect(Object.keys(got?.data ?? {})).toEqual(['__proto__'])
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it('should reject data JSON cannot hold with an ERR_SESSION_DATA error', async () => {
    const store = new MemoryStore()
    await expect(store.set('a', record({ n: 1n }), 1000)).rejects.toMatchObject({
      code: 'ERR_SESSION_DATA',
    })
    await store.set('b', record(), 1000)
    await expect(
      store.patch('b', { set: { n: 1n }, delete: [], lastSeen: 1 }, 1000)
    ).rejects.toMatchObject({ code: 'ERR_SESSION_DATA' })
  })

  it('should destroy, clear and count', async () => {
    const store = new MemoryStore()
    await store.set('a', record(), 60_000)
    await store.set('b', record(), 60_000)
    await store.destroy('a')
    await store.destroy('missing')
    expect(await store.length()).toBe(1)
    await store.clear()
    expect(await store.length()).toBe(0)
  })
})
