import { statSync, utimesSync } from 'node:fs'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluatePreconditions, parseEntityTags } from '../src/conditional.js'
import { type Fixture, fixture, type Served, serve } from './helpers.js'

failOnUnhandledRejections()

// A fixed modification time, whole seconds: Last-Modified is exactly this.
const MTIME = new Date('2024-05-01T12:00:00Z')
const LM = MTIME.toUTCString()
const before = (s: number): string => new Date(MTIME.getTime() - s * 1000).toUTCString()
const after = (s: number): string => new Date(MTIME.getTime() + s * 1000).toUTCString()

let f: Fixture
let s: Served
let etag: string
beforeAll(async () => {
  f = fixture({ 'a.txt': 'abcdefghij', 'big.bin': Buffer.alloc(200_000, 1) })
  utimesSync(`${f.root}/a.txt`, MTIME, MTIME)
  utimesSync(`${f.root}/big.bin`, MTIME, MTIME)
  s = await serve(f.root, { fallthrough: false })
  etag = (await s.get('/a.txt')).headers.etag as string
})
afterAll(async () => {
  await s.close()
  f.cleanup()
})

describe('static: validators', () => {
  it('should send a weak ETag from size and mtime by default, and Last-Modified', async () => {
    const r = await s.get('/a.txt')
    expect(r.headers.etag).toBe(`W/"a-${MTIME.getTime().toString(16)}"`)
    expect(r.headers['last-modified']).toBe(LM)
  })

  it('should make the ETag and Last-Modified send and serve-static make when mtime has a fraction of a millisecond', async () => {
    const g = fixture({ 'up.txt': 'up', 'down.txt': 'down' })
    // 0.6 ms rounds up, 0.4 ms down: send reads Node's Stats#mtime, new Date(Math.round(mtimeMs)).
    utimesSync(`${g.root}/up.txt`, 1_704_067_199.9996, 1_704_067_199.9996)
    utimesSync(`${g.root}/down.txt`, 1_704_067_200.0004, 1_704_067_200.0004)
    const t = await serve(g.root, { fallthrough: false })
    try {
      for (const name of ['up.txt', 'down.txt']) {
        const st = statSync(`${g.root}/${name}`)
        const r = await t.get(`/${name}`)
        expect(r.headers.etag).toBe(
          `W/"${st.size.toString(16)}-${st.mtime.getTime().toString(16)}"`
        )
        expect(r.headers['last-modified']).toBe(st.mtime.toUTCString())
      }
      expect(statSync(`${g.root}/up.txt`).mtime.toUTCString()).toBe('Mon, 01 Jan 2024 00:00:00 GMT')
    } finally {
      await t.close()
      g.cleanup()
    }
  })

  it('should send a strong ETag with etag: "strong", none with false', async () => {
    const strong = await serve(f.root, { etag: 'strong' })
    const none = await serve(f.root, { etag: false, lastModified: false })
    try {
      const r = await strong.get('/a.txt')
      expect(r.headers.etag).toBe(`"a-${(MTIME.getTime() * 1000).toString(16)}"`)
      const n = await none.get('/a.txt')
      expect(n.headers.etag).toBeUndefined()
      expect(n.headers['last-modified']).toBeUndefined()
      // Without validators, conditionals cannot succeed: a full 200.
      expect((await none.get('/a.txt', { 'if-modified-since': LM })).status).toBe(200)
      expect((await none.get('/a.txt', { 'if-none-match': '*' })).status).toBe(304)
    } finally {
      await strong.close()
      await none.close()
    }
  })
})

describe('static: If-None-Match', () => {
  it('should answer 304 with no body and the caching headers kept', async () => {
    const r = await s.get('/a.txt', { 'if-none-match': etag })
    expect(r.status).toBe(304)
    expect(r.body.length).toBe(0)
    expect(r.headers.etag).toBe(etag)
    expect(r.headers['last-modified']).toBe(LM)
    expect(r.headers['cache-control']).toBe('max-age=0')
    expect(r.headers['content-length']).toBeUndefined()
    expect(r.headers['content-type']).toBeUndefined()
  })

  it('should compare weakly, in lists, with *', async () => {
    const opaque = etag.slice(2)
    for (const value of [opaque, `"x", ${etag}`, `"x",${opaque} , "y"`, '*', `W/"zzz", ${etag}`]) {
      expect((await s.get('/a.txt', { 'if-none-match': value })).status, value).toBe(304)
    }
    for (const value of ['"x"', 'W/"x", "y"', `${etag.slice(0, -2)}"`, 'garbage', '']) {
      expect((await s.get('/a.txt', { 'if-none-match': value })).status, value).toBe(200)
    }
  })

  it('should take precedence over If-Modified-Since', async () => {
    // a non-matching tag wins over a date that would give a 304
    expect(
      (await s.get('/a.txt', { 'if-none-match': '"x"', 'if-modified-since': after(10) })).status
    ).toBe(200)
    expect(
      (await s.get('/a.txt', { 'if-none-match': etag, 'if-modified-since': before(10) })).status
    ).toBe(304)
  })

  it('should apply to HEAD as to GET', async () => {
    expect((await s.get('/a.txt', { 'if-none-match': etag }, 'HEAD')).status).toBe(304)
  })
})

describe('static: If-Modified-Since', () => {
  it('should answer 304 for a date at or after Last-Modified, 200 before it', async () => {
    expect((await s.get('/a.txt', { 'if-modified-since': LM })).status).toBe(304)
    expect((await s.get('/a.txt', { 'if-modified-since': after(5) })).status).toBe(304)
    expect((await s.get('/a.txt', { 'if-modified-since': before(1) })).status).toBe(200)
  })

  it('should ignore invalid dates and dates in the future', async () => {
    expect((await s.get('/a.txt', { 'if-modified-since': 'yesterday' })).status).toBe(200)
    expect((await s.get('/a.txt', { 'if-modified-since': '2024-05-01T12:00:00Z' })).status).toBe(
      200
    )
    const future = new Date(Date.now() + 86_400_000).toUTCString()
    expect((await s.get('/a.txt', { 'if-modified-since': future })).status).toBe(200)
  })

  it('should accept the obsolete date formats', async () => {
    // RFC 850 and asctime forms of the same instant (RFC 9110 §5.6.7)
    expect(
      (await s.get('/a.txt', { 'if-modified-since': 'Wednesday, 01-May-24 12:00:00 GMT' })).status
    ).toBe(304)
    expect(
      (await s.get('/a.txt', { 'if-modified-since': 'Wed May  1 12:00:00 2024' })).status
    ).toBe(304)
  })
})

describe('static: If-Match and If-Unmodified-Since', () => {
  it('should answer 412 when If-Match does not match strongly', async () => {
    // our default tag is weak: only * matches
    expect((await s.get('/a.txt', { 'if-match': '*' })).status).toBe(200)
    const r = await s.get('/a.txt', { 'if-match': etag })
    expect(r.status).toBe(412)
    expect(r.headers['content-security-policy']).toBe("default-src 'none'")
    expect((await s.get('/a.txt', { 'if-match': '"nope"' })).status).toBe(412)
    const strong = await serve(f.root, { etag: 'strong' })
    try {
      const tag = (await strong.get('/a.txt')).headers.etag as string
      expect((await strong.get('/a.txt', { 'if-match': tag })).status).toBe(200)
      expect((await strong.get('/a.txt', { 'if-match': `"x", ${tag}` })).status).toBe(200)
      expect((await strong.get('/a.txt', { 'if-match': `W/${tag}` })).status).toBe(412)
    } finally {
      await strong.close()
    }
  })

  it('should answer 412 when modified since If-Unmodified-Since', async () => {
    expect((await s.get('/a.txt', { 'if-unmodified-since': before(1) })).status).toBe(412)
    expect((await s.get('/a.txt', { 'if-unmodified-since': LM })).status).toBe(200)
    expect((await s.get('/a.txt', { 'if-unmodified-since': 'not a date' })).status).toBe(200)
  })

  it('should evaluate in the order of RFC 9110 §13.2.2', async () => {
    // If-Match wins over If-Unmodified-Since (which is then ignored)
    expect(
      (await s.get('/a.txt', { 'if-match': '*', 'if-unmodified-since': before(5) })).status
    ).toBe(200)
    // a failed If-Match is a 412 even when If-None-Match would give a 304
    expect((await s.get('/a.txt', { 'if-match': '"x"', 'if-none-match': etag })).status).toBe(412)
    // a failed If-Unmodified-Since beats If-Modified-Since
    expect(
      (await s.get('/a.txt', { 'if-unmodified-since': before(5), 'if-modified-since': LM })).status
    ).toBe(412)
    // a passing If-Match, then If-None-Match decides
    expect((await s.get('/a.txt', { 'if-match': '*', 'if-none-match': etag })).status).toBe(304)
  })

  it('should be answered without reading the body of a large file', async () => {
    expect((await s.get('/big.bin', { 'if-modified-since': LM })).status).toBe(304)
  })
})

describe('static: entity-tag parsing', () => {
  it('should parse lists with commas inside tags and refuse broken ones', () => {
    expect(parseEntityTags('"a", W/"b,c" ,"d"')).toEqual([
      { weak: false, opaque: '"a"' },
      { weak: true, opaque: '"b,c"' },
      { weak: false, opaque: '"d"' },
    ])
    expect(parseEntityTags('"a" "b"')).toBeUndefined()
    expect(parseEntityTags('a')).toBeUndefined()
    expect(parseEntityTags('"a')).toBeUndefined()
    expect(parseEntityTags(Array(70).fill('"x"').join(','))).toBeUndefined()
  })

  it('should evaluate preconditions without any header as proceed', () => {
    expect(
      evaluatePreconditions(
        {},
        { etag: 'W/"1"', opaque: '"1"', weak: true, lastModified: LM, mtimeSec: 0 }
      )
    ).toBe(0)
  })
})
