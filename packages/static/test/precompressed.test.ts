import { brotliCompressSync, gunzipSync, gzipSync } from 'node:zlib'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IDENTITY, NONE, negotiate } from '../src/encoding.js'
import { type Fixture, fixture, type Served, serve } from './helpers.js'

failOnUnhandledRejections()

const JS = 'console.log("hello");\n'.repeat(50)
const BIG = 'x'.repeat(100_000)

let f: Fixture
let s: Served
beforeAll(async () => {
  f = fixture({
    'app.js': JS,
    'app.js.br': brotliCompressSync(JS),
    'app.js.gz': gzipSync(JS),
    'only-gz.css': 'body{}',
    'only-gz.css.gz': gzipSync('body{}'),
    'plain.txt': 'plain',
    'big.txt': BIG,
    'big.txt.gz': gzipSync(BIG),
  })
  s = await serve(f.root, { precompressed: true })
})
afterAll(async () => {
  await s.close()
  f.cleanup()
})

describe('static: Accept-Encoding negotiation', () => {
  const both = ['br', 'gzip']
  it('should pick the highest q-value, ties in server order', () => {
    expect(negotiate('gzip, deflate, br, zstd', both)).toBe(0)
    expect(negotiate('gzip', both)).toBe(1)
    expect(negotiate('br;q=0.5, gzip;q=0.8', both)).toBe(1)
    expect(negotiate('gzip;q=1.0, br;q=1', both)).toBe(0)
    expect(negotiate('x-gzip', both)).toBe(1)
    expect(negotiate('*', both)).toBe(0)
    expect(negotiate('*;q=0.5, br;q=0', both)).toBe(1)
  })

  it('should treat q=0 as not acceptable', () => {
    expect(negotiate('br;q=0, gzip;q=0', both)).toBe(IDENTITY)
    expect(negotiate('br;q=0.000', both)).toBe(IDENTITY)
  })

  it('should send identity without the header, or when the client ranks it higher', () => {
    expect(negotiate(undefined, both)).toBe(IDENTITY)
    expect(negotiate('', both)).toBe(IDENTITY)
    expect(negotiate('deflate', both)).toBe(IDENTITY)
    expect(negotiate('gzip;q=0.5, identity', both)).toBe(IDENTITY)
    expect(negotiate('gzip;q=0.5', both)).toBe(1)
    expect(negotiate('gzip, identity', both)).toBe(1)
  })

  it('should find nothing acceptable when identity is refused', () => {
    expect(negotiate('identity;q=0', both)).toBe(NONE)
    expect(negotiate('*;q=0', both)).toBe(NONE)
    expect(negotiate('deflate, *;q=0', both)).toBe(NONE)
    expect(negotiate('gzip, identity;q=0', both)).toBe(1)
    expect(negotiate('*;q=0, identity', both)).toBe(IDENTITY)
  })

  it('should drop elements with an invalid q-value', () => {
    expect(negotiate('br;q=2, gzip', both)).toBe(1)
    expect(negotiate('br;q=abc', both)).toBe(IDENTITY)
  })
})

describe('static: precompressed siblings', () => {
  it('should serve the brotli sibling to a browser, with the original type and its own ETag', async () => {
    const plain = await s.get('/app.js')
    const br = await s.get('/app.js', { 'accept-encoding': 'gzip, deflate, br, zstd' })
    expect(br.status).toBe(200)
    expect(br.headers['content-encoding']).toBe('br')
    expect(br.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(br.headers.vary).toBe('Accept-Encoding')
    expect(br.body.equals(brotliCompressSync(JS))).toBe(true)
    expect(br.headers['content-length']).toBe(String(br.body.length))
    expect(br.headers.etag).toMatch(/-br"$/)
    expect(br.headers.etag).not.toBe(plain.headers.etag)
    const gz = await s.get('/app.js', { 'accept-encoding': 'gzip' })
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(gz.body).toString()).toBe(JS)
    expect(gz.headers.etag).toMatch(/-gz"$/)
  })

  it('should send Vary: Accept-Encoding on the identity response too', async () => {
    const r = await s.get('/app.js')
    expect(r.headers['content-encoding']).toBeUndefined()
    expect(r.headers.vary).toBe('Accept-Encoding')
    expect(r.text).toBe(JS)
    const only = await s.get('/only-gz.css', { 'accept-encoding': 'br' })
    expect(only.headers['content-encoding']).toBeUndefined()
    expect(only.headers.vary).toBe('Accept-Encoding')
  })

  it('should not add Vary to a file without siblings', async () => {
    const r = await s.get('/plain.txt', { 'accept-encoding': 'br, gzip' })
    expect(r.headers.vary).toBeUndefined()
    expect(r.headers['content-encoding']).toBeUndefined()
  })

  it('should answer 406 when identity is refused and no sibling is acceptable', async () => {
    const r = await s.get('/only-gz.css', { 'accept-encoding': 'br, identity;q=0' })
    expect(r.status).toBe(406)
    expect(r.headers.vary).toBe('Accept-Encoding')
  })

  it('should match If-None-Match per representation', async () => {
    const br = await s.get('/app.js', { 'accept-encoding': 'br' })
    const tag = br.headers.etag as string
    const again = await s.get('/app.js', { 'accept-encoding': 'br', 'if-none-match': tag })
    expect(again.status).toBe(304)
    expect(again.headers.vary).toBe('Accept-Encoding')
    // the brotli tag does not validate the gzip representation
    expect(
      (await s.get('/app.js', { 'accept-encoding': 'gzip', 'if-none-match': tag })).status
    ).toBe(200)
  })

  it('should apply ranges to the chosen representation', async () => {
    const gz = gzipSync(BIG)
    const r = await s.get('/big.txt', { 'accept-encoding': 'gzip', range: 'bytes=0-9' })
    expect(r.status).toBe(206)
    expect(r.headers['content-encoding']).toBe('gzip')
    expect(r.headers['content-range']).toBe(`bytes 0-9/${gz.length}`)
    expect(r.body.equals(gz.subarray(0, 10))).toBe(true)
    const id = await s.get('/big.txt', { range: 'bytes=0-9' })
    expect(id.headers['content-range']).toBe(`bytes 0-9/${BIG.length}`)
  })

  it('should use the configured codings and their order', async () => {
    const gzFirst = await serve(f.root, { precompressed: ['gzip', 'br'] })
    const brOnly = await serve(f.root, { precompressed: ['br'] })
    try {
      expect(
        (await gzFirst.get('/app.js', { 'accept-encoding': 'br, gzip' })).headers[
          'content-encoding'
        ]
      ).toBe('gzip')
      expect(
        (await brOnly.get('/app.js', { 'accept-encoding': 'gzip' })).headers['content-encoding']
      ).toBeUndefined()
    } finally {
      await gzFirst.close()
      await brOnly.close()
    }
  })

  it('should not negotiate without the option', async () => {
    const off = await serve(f.root)
    try {
      const r = await off.get('/app.js', { 'accept-encoding': 'br' })
      expect(r.headers['content-encoding']).toBeUndefined()
      expect(r.headers.vary).toBeUndefined()
    } finally {
      await off.close()
    }
  })
})
