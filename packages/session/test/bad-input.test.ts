import { createHmac } from 'node:crypto'
import { connect } from 'node:net'
import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { MemoryStore, type SessionStore, session } from '../src/index.js'
import { Client, collectErrors, json, OLD_SECRET, SECRET, withServer } from './helpers.js'
import { recording } from './stores.js'

failOnUnhandledRejections()

/** Sends GET / with the Cookie header bytes as given; resolves with the whole response text. */
function socketRequest(port: number, cookie: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        Buffer.concat([
          Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: '),
          cookie,
          Buffer.from('\r\n\r\n'),
        ])
      )
    })
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    socket.on('error', reject)
  })
}

const sign = (id: string, secret = SECRET) =>
  `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`
const ID = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const OTHER = 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

describe('session: bad cookies start a fresh session, never an error', () => {
  const valid = sign(ID)
  const flipped = valid.slice(0, -2) + (valid.at(-2) === 'A' ? 'B' : 'A') + valid.at(-1)
  const cases: [string, string][] = [
    ['a name without a value', 'sid'],
    ['an empty value', 'sid='],
    ['separators only', ';;; ; ;'],
    ['a value without a name', '=abc; =; ;='],
    ['an unsigned id', `sid=${ID}`],
    ['a lone dot', 'sid=.'],
    ['a signature of the wrong length', `sid=${ID}.abc`],
    ['a signature that is not base64url', `sid=${ID}.${'*'.repeat(43)}`],
    ['a signature with padding', `sid=${ID}.${'A'.repeat(42)}=`],
    ['a tampered signature', `sid=${flipped}`],
    ["another id's signature", `sid=${OTHER}.${valid.split('.')[1]}`],
    [
      'a signature by an unknown secret',
      `sid=${sign(ID, 'some-other-secret-that-is-long-enough')}`,
    ],
    [
      'a well-signed id with forbidden characters',
      `sid=${sign('AAAAAAAAAAAAAAAA/AAAAAAAAAAAAAA')}`,
    ],
    ['a well-signed id that is too short', `sid=${sign('AAAA')}`],
    ['broken percent-encoding', 'sid=%E0%A4%A'],
    ['a huge value', `sid=${'a'.repeat(12_000)}`],
    ['a huge well-formed-looking value', `sid=${'A'.repeat(6000)}.${'A'.repeat(43)}`],
    ['hundreds of cookies', Array.from({ length: 400 }, (_, i) => `c${i}=v${i}`).join('; ')],
    ['a name that contains ours', `xsid=${valid}; sidx=${valid}`],
  ]

  for (const [what, cookie] of cases) {
    it(`should start a fresh session for ${what}`, async () => {
      const { store, calls } = recording(new MemoryStore())
      const { errors, options } = collectErrors()
      await withServer(
        session({ secret: SECRET, store }),
        async ({ url }) => {
          const res = await rawRequest(url, { path: '/', headers: { cookie } })
          expect(res.status).toBe(200)
          const body = json(res)
          expect(body).toMatchObject({ isNew: true, data: { views: 1 } })
          expect(body.id).not.toBe(ID)
          expect(calls).toEqual([`set ${body.id}`])
        },
        undefined,
        options
      )
      expect(errors).toEqual([])
    })
  }

  // Node's own client refuses to send these: written on a bare socket.
  const raw: [string, Buffer, number][] = [
    ['non-ASCII bytes (UTF-8)', Buffer.from('sid=ñ✓; a=1', 'utf8'), 200],
    ['non-ASCII bytes (Latin-1)', Buffer.from('sid=\u00e9\u00ff', 'latin1'), 200],
    ['control characters', Buffer.from('sid=\u0001\u0002', 'latin1'), 400],
  ]
  for (const [what, cookie, status] of raw) {
    it(`should answer ${status} to a Cookie header with ${what}`, async () => {
      const { errors, options } = collectErrors()
      await withServer(
        session({ secret: SECRET }),
        async ({ port }) => {
          const head = await socketRequest(port, cookie)
          expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `))
          if (status === 200) expect(head).toMatch(/"isNew":true,"data":\{"views":1\}/)
        },
        undefined,
        options
      )
      expect(errors).toEqual([])
    })
  }

  it('should answer a request whose Cookie header is too big for Node with 431, not a crash', async () => {
    await withServer(session({ secret: SECRET }), async ({ url }) => {
      const res = await rawRequest(url, {
        path: '/',
        headers: { cookie: `sid=${'a'.repeat(20_000)}` },
      })
      expect(res.status).toBe(431)
    })
  })
})

describe('session: ids the server did not issue never reach the store as keys', () => {
  it("should give a well-signed but unknown id a new id, never adopting the client's", async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const res = await rawRequest(url, { path: '/', headers: { cookie: `sid=${sign(ID)}` } })
      const body = json(res)
      expect(body.isNew).toBe(true)
      expect(body.id).not.toBe(ID)
      expect(calls).toEqual([`get ${ID}`, `set ${body.id}`])
    })
  })

  it('should not ask the store about a cookie that is not signed by us', async () => {
    const { store, calls } = recording(new MemoryStore())
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      await rawRequest(url, { path: '/read', headers: { cookie: `sid=${ID}.${'A'.repeat(43)}` } })
      await rawRequest(url, { path: '/read', headers: { cookie: `sid=${sign(ID, OLD_SECRET)}` } })
    })
    expect(calls).toEqual([])
  })
})

describe('session: duplicate cookie names', () => {
  it('should take the first valid signed value', async () => {
    const store = new MemoryStore()
    await withServer(session({ secret: SECRET, store }), async ({ url }) => {
      const a = new Client(url)
      const b = new Client(url)
      const idA = (await a.json('/set?k=who&v="a"')).id
      const idB = (await b.json('/set?k=who&v="b"')).id
      const ask = async (cookie: string) =>
        json(await rawRequest(url, { path: '/read', headers: { cookie } }))
      // a stale or forged cookie first (another path or domain): the valid one after it is used
      expect(await ask(`sid=garbage; sid=${a.cookie?.slice(4)}`)).toMatchObject({
        id: idA,
        isNew: false,
      })
      expect(
        await ask(`other=1; sid=${ID}.${'A'.repeat(43)}; x=2; sid=${b.cookie?.slice(4)}`)
      ).toMatchObject({ id: idB })
      // two valid ones: the first
      expect(await ask(`${b.cookie}; ${a.cookie}`)).toMatchObject({ id: idB })
      expect(await ask(`${a.cookie}; ${b.cookie}`)).toMatchObject({ id: idA })
      // a well-signed but unknown first one wins: the store is asked once
      expect(await ask(`sid=${sign(OTHER)}; ${a.cookie}`)).toMatchObject({ isNew: true })
    })
  })
})

describe('session: what a store returns that is not a session', () => {
  const garbage: unknown[] = [
    null,
    'x',
    42,
    [],
    { data: 'x', createdAt: 1, lastSeen: 1 },
    { data: {}, createdAt: 'yesterday', lastSeen: 1 },
    { data: {} },
    { data: [], createdAt: 1, lastSeen: 1 },
  ]
  for (const value of garbage) {
    it(`should start a fresh session when get() returns ${JSON.stringify(value)}`, async () => {
      const store: SessionStore = {
        get: async () => value as never,
        set: async () => {},
        destroy: async () => {},
      }
      await withServer(session({ secret: SECRET, store }), async ({ url }) => {
        const res = await rawRequest(url, { path: '/read', headers: { cookie: `sid=${sign(ID)}` } })
        expect(res.status).toBe(200)
        expect(json(res)).toMatchObject({ isNew: true, data: {} })
      })
    })
  }
})
