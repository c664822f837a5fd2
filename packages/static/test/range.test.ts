import { utimesSync } from 'node:fs'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IGNORE, parseRange, UNSATISFIABLE } from '../src/range.js'
import { bytes, type Fixture, fixture, parseMultipart, type Served, serve } from './helpers.js'

failOnUnhandledRejections()

const SMALL = bytes(1000) // served from the memory cache
const LARGE = bytes(300_000) // streamed from disk (over the 64 KiB cache limit)
const MTIME = new Date('2024-05-01T12:00:00Z')

let f: Fixture
let s: Served
beforeAll(async () => {
  f = fixture({ 'small.bin': SMALL, 'large.bin': LARGE, 'empty.bin': '' })
  for (const name of ['small.bin', 'large.bin']) utimesSync(`${f.root}/${name}`, MTIME, MTIME)
  s = await serve(f.root, { etag: 'strong' })
})
afterAll(async () => {
  await s.close()
  f.cleanup()
})

describe('static: Range parsing', () => {
  it('should parse single, open, suffix ranges and clamp them', () => {
    expect(parseRange('bytes=0-99', 1000, 16)).toEqual([{ start: 0, end: 99 }])
    expect(parseRange('bytes=500-', 1000, 16)).toEqual([{ start: 500, end: 999 }])
    expect(parseRange('bytes=-100', 1000, 16)).toEqual([{ start: 900, end: 999 }])
    expect(parseRange('bytes=-5000', 1000, 16)).toEqual([{ start: 0, end: 999 }])
    expect(parseRange('bytes=900-5000', 1000, 16)).toEqual([{ start: 900, end: 999 }])
    expect(parseRange('BYTES = 0-0', 1000, 16)).toEqual([{ start: 0, end: 0 }])
    expect(parseRange('bytes=0-99999999999999999999', 1000, 16)).toEqual([{ start: 0, end: 999 }])
  })

  it('should ignore what it cannot parse and other units', () => {
    for (const h of [
      'bytes',
      'bytes=',
      'bytes=abc',
      'bytes=5-1',
      'bytes=-',
      'items=0-1',
      '0-1',
      'bytes=1-2-3',
      'bytes= , ',
      'bytes=0x1-2',
    ]) {
      expect(parseRange(h, 1000, 16), h).toBe(IGNORE)
    }
  })

  it('should say unsatisfiable when no range is', () => {
    expect(parseRange('bytes=1000-', 1000, 16)).toBe(UNSATISFIABLE)
    expect(parseRange('bytes=-0', 1000, 16)).toBe(UNSATISFIABLE)
    expect(parseRange('bytes=2000-3000, 5000-', 1000, 16)).toBe(UNSATISFIABLE)
    expect(parseRange('bytes=99999999999999999999-', 1000, 16)).toBe(UNSATISFIABLE)
    // one satisfiable range is enough
    expect(parseRange('bytes=2000-3000, 0-1', 1000, 16)).toEqual([{ start: 0, end: 1 }])
  })

  it('should merge overlapping and adjacent ranges, in order', () => {
    expect(parseRange('bytes=10-19,0-9,50-59,55-70', 1000, 16)).toEqual([
      { start: 0, end: 19 },
      { start: 50, end: 70 },
    ])
    expect(parseRange('bytes=0-0,0-0,0-0,0-0', 1000, 16)).toEqual([{ start: 0, end: 0 }])
  })

  it('should ignore a header with too many ranges, before or after merging', () => {
    const many = `bytes=${Array.from({ length: 101 }, () => '0-0').join(',')}`
    expect(parseRange(many, 1000, 16)).toBe(IGNORE)
    const distinct = `bytes=${Array.from({ length: 17 }, (_, i) => `${i * 10}-${i * 10}`).join(',')}`
    expect(parseRange(distinct, 1000, 16)).toBe(IGNORE)
    expect(parseRange(distinct, 1000, 17)).toHaveLength(17)
  })

  it('should ignore ranges on an empty representation', () => {
    expect(parseRange('bytes=0-', 0, 16)).toBe(IGNORE)
  })
})

describe('static: Range requests', () => {
  for (const [name, data] of [
    ['small.bin', SMALL],
    ['large.bin', LARGE],
  ] as const) {
    describe(name, () => {
      const size = data.length
      it('should answer a single range with 206 and Content-Range', async () => {
        const r = await s.get(`/${name}`, { range: 'bytes=10-19' })
        expect(r.status).toBe(206)
        expect(r.headers['content-range']).toBe(`bytes 10-19/${size}`)
        expect(r.headers['content-length']).toBe('10')
        expect(r.headers['content-type']).toBe('application/octet-stream')
        expect(r.headers.etag).toBeDefined()
        expect(r.body.equals(data.subarray(10, 20))).toBe(true)
      })

      it('should answer suffix and open ranges', async () => {
        const suffix = await s.get(`/${name}`, { range: 'bytes=-500' })
        expect(suffix.headers['content-range']).toBe(`bytes ${size - 500}-${size - 1}/${size}`)
        expect(suffix.body.equals(data.subarray(size - 500))).toBe(true)
        const open = await s.get(`/${name}`, { range: 'bytes=500-' })
        expect(open.headers['content-range']).toBe(`bytes 500-${size - 1}/${size}`)
        expect(open.body.equals(data.subarray(500))).toBe(true)
      })

      it('should answer several ranges with multipart/byteranges of the exact length', async () => {
        const r = await s.get(`/${name}`, { range: 'bytes=900-999, 0-9, 5-14, 100-109' })
        expect(r.status).toBe(206)
        const type = r.headers['content-type'] as string
        expect(type).toMatch(/^multipart\/byteranges; boundary=[\w-]+$/)
        expect(Number(r.headers['content-length'])).toBe(r.body.length)
        expect(r.headers['content-range']).toBeUndefined()
        const parts = parseMultipart(r.body, type)
        expect(parts.map((p) => p.headers['content-range'])).toEqual([
          `bytes 0-14/${size}`,
          `bytes 100-109/${size}`,
          `bytes 900-999/${size}`,
        ])
        for (const p of parts) {
          expect(p.headers['content-type']).toBe('application/octet-stream')
          const [, a, b] = /bytes (\d+)-(\d+)/.exec(
            p.headers['content-range'] as string
          ) as RegExpExecArray
          expect(p.data.equals(data.subarray(Number(a), Number(b) + 1))).toBe(true)
        }
      })

      it('should answer 416 with Content-Range: bytes */size when nothing is satisfiable', async () => {
        const r = await s.get(`/${name}`, { range: `bytes=${size}-` })
        expect(r.status).toBe(416)
        expect(r.headers['content-range']).toBe(`bytes */${size}`)
        expect(r.headers['content-security-policy']).toBe("default-src 'none'")
      })

      it('should ignore a malformed Range (200, whole body)', async () => {
        for (const range of ['bytes=abc', 'bytes=10-5', 'pages=1-2']) {
          const r = await s.get(`/${name}`, { range })
          expect(r.status, range).toBe(200)
          expect(r.body.equals(data)).toBe(true)
        }
      })

      it('should answer too many ranges with the whole file', async () => {
        const range = `bytes=${Array.from({ length: 20 }, (_, i) => `${i * 20}-${i * 20 + 1}`).join(',')}`
        const r = await s.get(`/${name}`, { range })
        expect(r.status).toBe(200)
        expect(r.body.length).toBe(size)
      })
    })
  }

  it('should honour If-Range with the strong ETag or the exact date, else send the whole file', async () => {
    const full = await s.get('/large.bin')
    const tag = full.headers.etag as string
    const lm = full.headers['last-modified'] as string
    expect((await s.get('/large.bin', { range: 'bytes=0-9', 'if-range': tag })).status).toBe(206)
    expect((await s.get('/large.bin', { range: 'bytes=0-9', 'if-range': lm })).status).toBe(206)
    expect((await s.get('/large.bin', { range: 'bytes=0-9', 'if-range': '"other"' })).status).toBe(
      200
    )
    expect((await s.get('/large.bin', { range: 'bytes=0-9', 'if-range': `W/${tag}` })).status).toBe(
      200
    )
    const later = new Date(MTIME.getTime() + 1000).toUTCString()
    expect((await s.get('/large.bin', { range: 'bytes=0-9', 'if-range': later })).status).toBe(200)
  })

  it('should never honour If-Range with a weak ETag', async () => {
    const weak = await serve(f.root)
    try {
      const tag = (await weak.get('/small.bin')).headers.etag as string
      expect(tag.startsWith('W/')).toBe(true)
      expect((await weak.get('/small.bin', { range: 'bytes=0-9', 'if-range': tag })).status).toBe(
        200
      )
    } finally {
      await weak.close()
    }
  })

  it('should ignore Range on HEAD, on an empty file, and with acceptRanges: false', async () => {
    const head = await s.get('/large.bin', { range: 'bytes=0-9' }, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(LARGE.length))
    const empty = await s.get('/empty.bin', { range: 'bytes=0-' })
    expect(empty.status).toBe(200)
    const off = await serve(f.root, { acceptRanges: false })
    try {
      const r = await off.get('/small.bin', { range: 'bytes=0-9' })
      expect(r.status).toBe(200)
      expect(r.headers['accept-ranges']).toBeUndefined()
    } finally {
      await off.close()
    }
  })

  it('should evaluate preconditions before ranges', async () => {
    const tag = (await s.get('/small.bin')).headers.etag as string
    expect((await s.get('/small.bin', { range: 'bytes=0-9', 'if-none-match': tag })).status).toBe(
      304
    )
    expect((await s.get('/small.bin', { range: 'bytes=0-9', 'if-match': '"x"' })).status).toBe(412)
  })

  it('should stream a large file whole, byte for byte', async () => {
    const r = await s.get('/large.bin')
    expect(r.status).toBe(200)
    expect(r.body.equals(LARGE)).toBe(true)
  })
})
