import { gzipSync } from 'node:zlib'
import { listen, rawRequest } from '@shallot/test-utils'
import compression from 'compression'
import { describe, expect, it } from 'vitest'
import {
  countBodyBytes,
  fromConnect,
  getBodyBytes,
  type Middleware,
  onFinished,
  stack,
} from '../src/index.js'

/** A layer that counts and records the count of each finished exchange. */
function counter(seen: (number | undefined)[], count = true): Middleware {
  return (next) => (req, res) => {
    if (count) countBodyBytes(res)
    onFinished(res, () => seen.push(getBodyBytes(res)))
    return next(req, res)
  }
}

describe('countBodyBytes', () => {
  it('should count what write and end hand to Node, strings by encoding, once for two layers', async () => {
    const seen: (number | undefined)[] = []
    const server = await listen(
      stack(
        counter(seen),
        counter(seen)
      )((_req, res) => {
        res.write('héllo') // 6 bytes in UTF-8
        res.write('ff', 'hex') // 1 byte
        res.end(Buffer.from('abc'))
      })
    )
    try {
      await rawRequest(server.url)
      await expect.poll(() => seen.length).toBe(2)
      expect(seen).toEqual([10, 10])
    } finally {
      await server.close()
    }
  })

  it('should leave uncounted responses alone', async () => {
    const seen: (number | undefined)[] = []
    const server = await listen(stack(counter(seen, false))((_req, res) => void res.end('x')))
    try {
      await rawRequest(server.url)
      await expect.poll(() => seen.length).toBe(1)
      expect(seen).toEqual([undefined])
    } finally {
      await server.close()
    }
  })

  it('should count the compressed bytes when compression is inside or outside', async () => {
    const body = 'a'.repeat(5000)
    const gzipped = gzipSync(body).length
    for (const order of ['inside', 'outside']) {
      const seen: (number | undefined)[] = []
      const gzip = fromConnect(compression({ threshold: 0 }))
      const layers = order === 'inside' ? [counter(seen), gzip] : [gzip, counter(seen)]
      const server = await listen(
        stack(...layers)((_req, res) => {
          res.setHeader('Content-Type', 'text/plain')
          res.end(body)
        })
      )
      try {
        const res = await rawRequest(server.url, { headers: { 'accept-encoding': 'gzip' } })
        expect(res.headers['content-encoding']).toBe('gzip')
        await expect.poll(() => seen.length).toBe(1)
        // zlib's framing may differ by a few bytes from gzipSync's; never the plain length
        expect(seen[0], order).toBeGreaterThan(0)
        expect(Math.abs((seen[0] as number) - gzipped), order).toBeLessThan(32)
      } finally {
        await server.close()
      }
    }
  })
})
