import type { HttpError } from '@shallot/stack'
import { failOnUnhandledRejections, RedisServer, rawRequest } from '@shallot/test-utils'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { RedisStore, session } from '../src/index.js'
import { Client, collectErrors, json, SECRET, withServer } from './helpers.js'
import { makers } from './redis-clients.js'

failOnUnhandledRejections()

let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis?.stop()
})

/** Requests `path` until it answers 200 (the client reconnects by itself), at most ~15 s. */
async function untilUp(client: Client, path: string): Promise<void> {
  await vi.waitFor(
    async () => {
      const res = await client.get(path)
      if (res.status !== 200) throw new Error(`still ${res.status}`)
    },
    { timeout: 15_000, interval: 100 }
  )
}

describe.each(makers)('RedisStore with %s when Redis dies', (_name, make) => {
  it('should answer 503 while Redis is down, never crash, recover by itself, and lose no acknowledged write', async () => {
    const t = await make(redis.port)
    const { errors, options } = collectErrors()
    try {
      await withServer(
        session({
          secret: SECRET,
          store: new RedisStore({ client: t.client, prefix: `${_name}:` }),
          storeTimeout: 500,
        }),
        async ({ url }) => {
          const client = new Client(url)
          const { id } = await client.json('/')
          await client.json('/')
          // acknowledged: the response is out, so the write is in Redis (and fsynced)
          await redis.kill('SIGKILL')

          const read = await client.get('/read', { accept: 'application/json' })
          expect(read.status).toBe(503)
          expect(JSON.parse(read.body)).toMatchObject({
            statusCode: 503,
            message: 'Session store unavailable',
          })
          const fresh = await rawRequest(url, { path: '/' })
          expect(fresh.status).toBe(503)
          expect(fresh.headers['set-cookie']).toBeUndefined()

          await redis.restart()
          await untilUp(client, '/read')
          expect(await client.json('/read')).toEqual({ id, isNew: false, data: { views: 2 } })
          expect((await client.json('/')).data).toEqual({ views: 3 })
        },
        undefined,
        options
      )
    } finally {
      await t.close()
    }
    expect(errors.length).toBeGreaterThanOrEqual(2)
    for (const err of errors) {
      expect((err as HttpError).status).toBe(503)
      expect(err.cause).toBeInstanceOf(Error)
    }
  })
})

describe('RedisStore with a node-redis client left with its defaults', () => {
  it('should not crash without an error listener, and time out queued commands with storeTimeout', async () => {
    const logged: unknown[] = []
    const spy = vi.spyOn(console, 'error').mockImplementation((...args) => {
      logged.push(args)
    })
    // offline queue on (the default), no error listener: the store adds one
    const client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100 } })
    await client.connect()
    const { errors, options } = collectErrors()
    try {
      await withServer(
        session({ secret: SECRET, store: new RedisStore({ client }), storeTimeout: 300 }),
        async ({ url }) => {
          const browser = new Client(url)
          await browser.json('/')
          await redis.kill('SIGKILL')
          const res = await browser.get('/read')
          expect(res.status).toBe(503)
          await redis.restart()
          await untilUp(browser, '/read')
          expect(json(await browser.get('/read')).data).toEqual({ views: 1 })
        },
        undefined,
        options
      )
    } finally {
      client.destroy()
      spy.mockRestore()
    }
    expect((errors[0]?.cause as Error | undefined)?.message).toMatch(/did not answer within 300 ms/)
    expect(
      logged.some((args) =>
        String((args as unknown[])[0]).includes('[@shallot/session] RedisStore: redis client error')
      )
    ).toBe(true)
  })
})
