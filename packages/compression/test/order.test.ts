/**
 * When compression decides, relative to the other layers' onHeaders listeners.
 *
 * @shallot/stack runs onHeaders listeners from the prototype's writeHead, innermost layer
 * first. The compression package decides in a wrapper it puts on each response's writeHead
 * (on-headers), which would run before all of them. Our layer runs that decision inside
 * its own onHeaders listener instead: after the inner layers' listeners (so it sees what
 * they set) and before the outer ones' (so they see what it did).
 */

import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type Handler,
  type HeadersListener,
  type Middleware,
  onHeaders,
  toConnect,
} from '@shallot/stack'
import type { Listening } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { compression } from '../src/index.js'
import { decode, get, sending, text, withServer } from './helpers.js'

const BODY = text(10_000)

/** A layer that registers `listener` with the stack's onHeaders, then goes on. */
const listening =
  (listener: HeadersListener): Middleware =>
  (next) =>
  (req, res) => {
    onHeaders(res, listener)
    return next(req, res)
  }

/** A handler writing BODY with no Content-Type: a listener sets it, or nothing compresses. */
const untyped: Handler = (_req, res) => {
  res.end(BODY)
}

const setType: HeadersListener = (res) => res.setHeader('Content-Type', 'text/plain')

/** Records, at head time, what an outer layer sees, into a response header. */
const observer: HeadersListener = (res) => {
  res.setHeader(
    'X-Seen',
    `${res.getHeader('content-encoding') ?? '-'} ${res.getHeader('etag') ?? '-'} ${res.getHeader('vary') ?? '-'}`
  )
}

describe('compression: order with the stack onHeaders listeners', () => {
  it("should see headers set by an inner layer's listener (no outer listener)", async () => {
    await withServer([compression(), listening(setType)], untyped, async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(decode(res)).toBe(BODY)
    })
  })

  it("should see headers set by an inner layer's listener (with an outer listener)", async () => {
    await withServer(
      [listening(observer), compression(), listening(setType)],
      untyped,
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(res.headers['x-seen']).toBe('gzip - Accept-Encoding')
      }
    )
  })

  it('should see a listener registered by the handler itself, late', async () => {
    await withServer(
      compression(),
      (_req, res) => {
        onHeaders(res, setType)
        onHeaders(res, (r) => r.setHeader('ETag', '"late"'))
        res.end(BODY)
      },
      async (server) => {
        const res = await get(server, 'br')
        expect(res.headers['content-encoding']).toBe('br')
        expect(res.headers.etag).toBe('W/"late"')
      }
    )
  })

  it('should honour a no-transform, a 206 or a Content-Encoding set by inner listeners', async () => {
    const cases: [HeadersListener, (res: { status: number; raw: Buffer }) => void][] = [
      [(res) => res.setHeader('Cache-Control', 'no-transform'), () => {}],
      [
        (res) => {
          res.statusCode = 206
          res.setHeader('Content-Range', `bytes 0-${BODY.length - 1}/${BODY.length + 10}`)
        },
        (res) => expect(res.status).toBe(206),
      ],
      [(res) => res.setHeader('Content-Encoding', 'x-custom'), () => {}],
    ]
    for (const [listener, more] of cases) {
      await withServer(
        [listening(observer), compression(), listening(setType), listening(listener)],
        untyped,
        async (server) => {
          const res = await get(server, 'gzip')
          expect(res.headers['content-encoding']).not.toBe('gzip')
          expect(res.raw.toString()).toBe(BODY)
          more(res)
        }
      )
    }
  })

  it('should let outer listeners see the compressed representation', async () => {
    await withServer(
      [listening(observer), compression()],
      sending(BODY, 'text/plain', { ETag: '"e"' }),
      async (server) => {
        const res = await get(server, 'deflate')
        expect(res.headers['x-seen']).toBe('deflate W/"e" Accept-Encoding')
        expect(decode(res)).toBe(BODY)
      }
    )
  })

  it("should leave the request's Accept-Encoding as the client sent it", async () => {
    const seen: string[] = []
    const record: HeadersListener = (res) => {
      seen.push(String(res.req.headers['accept-encoding']))
    }
    await withServer(
      [listening(record), compression(), listening(record)],
      sending(BODY),
      async (server) => {
        const res = await get(server, 'gzip;q=0.5, br;q=0.9, identity;q=0.1')
        expect(res.headers['content-encoding']).toBe('br')
        const none = await get(server, undefined)
        expect(none.headers['content-encoding']).toBeUndefined()
      }
    )
    const header = 'gzip;q=0.5, br;q=0.9, identity;q=0.1'
    expect(seen).toEqual([header, header, 'undefined', 'undefined'])
  })

  it('should work under and over layers that wrap res.writeHead themselves', async () => {
    // What on-headers, and so many Connect middlewares, do per response.
    const wrapping =
      (name: string): Middleware =>
      (next) =>
      (req, res) => {
        const original = res.writeHead
        let calls = 0
        res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
          calls++
          this.setHeader(`X-Wrapped-${name}`, String(calls))
          if (name === 'inner') this.setHeader('Content-Type', 'text/plain')
          return (original as (...a: unknown[]) => ServerResponse).apply(this, args)
        } as ServerResponse['writeHead']
        return next(req, res)
      }
    await withServer(
      [wrapping('outer'), compression(), wrapping('inner')],
      untyped,
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(res.headers['x-wrapped-outer']).toBe('1')
        expect(res.headers['x-wrapped-inner']).toBe('1')
        expect(decode(res)).toBe(BODY)
      }
    )
  })

  it('should compress once when two compression layers are stacked', async () => {
    await withServer(
      [listening(observer), compression(), compression({ encodings: ['gzip'] })],
      sending(BODY, 'text/plain', { ETag: '"n"' }),
      async (server) => {
        const res = await get(server, 'br, gzip')
        // The inner layer decides first (gzip only), the outer one sees it is encoded.
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(res.headers.etag).toBe('W/"n"')
        expect(res.headers.vary).toBe('Accept-Encoding')
        expect(decode(res)).toBe(BODY)
      }
    )
  })
})

describe('compression: through toConnect', () => {
  it('should compress inside a Connect-style chain', async () => {
    const mw = toConnect(compression())
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      mw(req, res, () => sending(BODY, 'application/json', { ETag: '"c"' })(req, res))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const listening: Listening = {
      url: `http://127.0.0.1:${port}`,
      port,
      server,
      close: () => new Promise((r) => server.close(() => r())),
    }
    try {
      const res = await get(listening, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(res.headers.etag).toBe('W/"c"')
      expect(decode(res)).toBe(BODY)
    } finally {
      server.closeAllConnections()
      await listening.close()
    }
  })
})
