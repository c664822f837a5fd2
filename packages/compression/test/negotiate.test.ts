import { describe, expect, it } from 'vitest'
import { negotiate } from '../src/negotiate.js'

const ALL = ['br', 'gzip', 'deflate'] as const

describe('negotiate: Accept-Encoding (RFC 9110 §12.5.3)', () => {
  it('should answer identity without a header, with an empty one, or with nothing we have', () => {
    expect(negotiate(undefined, ALL)).toBeUndefined()
    expect(negotiate('', ALL)).toBeUndefined()
    expect(negotiate(' , ,', ALL)).toBeUndefined()
    expect(negotiate('compress, zstd, dcb', ALL)).toBeUndefined()
    expect(negotiate('identity', ALL)).toBeUndefined()
  })

  it('should break q ties by the server order', () => {
    expect(negotiate('gzip, deflate, br, zstd', ALL)).toBe('br')
    expect(negotiate('gzip, deflate, br', ['gzip', 'br'])).toBe('gzip')
    expect(negotiate('deflate, gzip', ['deflate', 'gzip'])).toBe('deflate')
    expect(negotiate('br', ['gzip', 'deflate'])).toBeUndefined()
  })

  it('should let a higher client q win over the server order', () => {
    expect(negotiate('br;q=0.5, gzip', ALL)).toBe('gzip')
    expect(negotiate('br;q=0.5, gzip;q=0.6, deflate;q=0.7', ALL)).toBe('deflate')
    expect(negotiate('gzip;q=0.001', ALL)).toBe('gzip')
  })

  it('should never choose a coding with q=0', () => {
    expect(negotiate('gzip;q=0', ALL)).toBeUndefined()
    expect(negotiate('gzip;q=0.000, br;q=0', ALL)).toBeUndefined()
    expect(negotiate('br;q=0, gzip;q=0.1', ALL)).toBe('gzip')
  })

  it('should give * to the codings not named, gzip first', () => {
    expect(negotiate('*', ALL)).toBe('gzip')
    expect(negotiate('*', ['br', 'deflate'])).toBe('br')
    expect(negotiate('gzip;q=0, *', ALL)).toBe('br')
    expect(negotiate('br;q=0.2, *;q=0.5', ALL)).toBe('gzip')
    expect(negotiate('br, *;q=0.5', ALL)).toBe('br')
    expect(negotiate('br;q=0.5, *;q=0.5', ALL)).toBe('br')
    expect(negotiate('*;q=0', ALL)).toBeUndefined()
    expect(negotiate('br;q=0, gzip;q=0, deflate;q=0, *', ALL)).toBeUndefined()
  })

  it('should let an explicit identity with a higher q win', () => {
    expect(negotiate('gzip;q=0.5, identity', ALL)).toBeUndefined()
    expect(negotiate('gzip;q=0.5, identity;q=0.5', ALL)).toBe('gzip')
    expect(negotiate('gzip, identity;q=0', ALL)).toBe('gzip')
    expect(negotiate('identity;q=0', ALL)).toBeUndefined()
  })

  it('should read case, whitespace, x-gzip, duplicates and a list of headers', () => {
    expect(negotiate('  GZip ; Q = 0.8 ', ALL)).toBe('gzip')
    expect(negotiate('BR', ALL)).toBe('br')
    expect(negotiate('x-gzip', ALL)).toBe('gzip')
    expect(negotiate('gzip;q=0, gzip;q=1', ALL)).toBe('gzip')
    expect(negotiate(['deflate;q=0.1', 'gzip'], ALL)).toBe('gzip')
  })

  it('should ignore entries with a malformed q, and other parameters', () => {
    for (const bad of [
      'gzip;q=2',
      'gzip;q=1.5',
      'gzip;q=abc',
      'gzip;q=',
      'gzip;q=0.1234',
      'gzip;q=-1',
    ]) {
      expect([bad, negotiate(bad, ALL)]).toEqual([bad, undefined])
    }
    expect(negotiate('gzip;q=1.000', ALL)).toBe('gzip')
    expect(negotiate('gzip;level=9', ALL)).toBe('gzip')
    expect(negotiate('br;q=oops, gzip;q=0.5', ALL)).toBe('gzip')
  })
})
