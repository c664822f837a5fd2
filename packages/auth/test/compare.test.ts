import { describe, expect, it } from 'vitest'
import { DIGEST_LENGTH, digest, digestsEqual, SecretTable } from '../src/compare.js'
import { safeEqual } from '../src/index.js'

describe('safeEqual', () => {
  it('should be true for equal secrets, strings or bytes', () => {
    expect(safeEqual('s3cret', 's3cret')).toBe(true)
    expect(safeEqual('', '')).toBe(true)
    expect(safeEqual(Buffer.from('ab'), new TextEncoder().encode('ab'))).toBe(true)
    expect(safeEqual('ünï', Buffer.from('ünï', 'utf8'))).toBe(true)
  })

  it('should be false for unequal secrets of the same length', () => {
    expect(safeEqual('s3cret', 's3creT')).toBe(false)
    expect(safeEqual('aaaa', 'aaab')).toBe(false)
  })

  it('should be false, without throwing, for different lengths', () => {
    expect(safeEqual('s3cret', 's3cret!')).toBe(false)
    expect(safeEqual('', 'x')).toBe(false)
    expect(safeEqual('x'.repeat(10_000), 'x')).toBe(false)
  })

  it('should compare fixed-length digests (no length leak)', () => {
    expect(digest('a')).toHaveLength(32)
    expect(digest('a'.repeat(100_000))).toHaveLength(32)
  })
})

describe('digestsEqual', () => {
  it('should be true only for the same digest', () => {
    expect(digestsEqual(digest('x'), digest('x'))).toBe(true)
    expect(digestsEqual(digest('x'), digest('y'))).toBe(false)
  })

  it('should compare every character, the last one included', () => {
    const d = digest('x')
    const last = d.slice(0, -1) + String.fromCharCode(d.charCodeAt(DIGEST_LENGTH - 1) ^ 1)
    const first = String.fromCharCode(d.charCodeAt(0) ^ 0x80) + d.slice(1)
    expect(digestsEqual(d, last)).toBe(false)
    expect(digestsEqual(first, d)).toBe(false)
  })

  it('should be false for anything that is not a digest-long string', () => {
    const d = digest('x')
    expect(digestsEqual(d, d.slice(0, -1))).toBe(false)
    expect(digestsEqual(`${d}!`, d)).toBe(false)
    expect(digestsEqual('', '')).toBe(false)
  })
})

describe('SecretTable', () => {
  it('should find every entry, compare all of them, and refuse duplicates', () => {
    const t = new SecretTable<string>()
    expect(t.add('one', 'p1')).toBe(true)
    expect(t.add('two', 'p2')).toBe(true)
    expect(t.add('three', 'p3')).toBe(true)
    expect(t.add('two', 'again')).toBe(false)
    expect(t.size).toBe(3)
    expect(t.indexOf(digest('one'))).toBe(0)
    expect(t.indexOf(digest('three'))).toBe(2)
    expect(t.principalAt(t.indexOf(digest('two')))).toBe('p2')
    expect(t.indexOf(digest('four'))).toBe(-1)
    expect(t.indexOf(digest(''))).toBe(-1)
  })

  it('should not keep the raw secrets', () => {
    const t = new SecretTable<number>()
    t.add('very-secret-value', 1)
    expect(JSON.stringify(t)).not.toContain('very-secret-value')
    const held = Object.values(t).flat()
    expect(held.filter((v) => typeof v === 'string')).toHaveLength(1)
    expect(held.some((v) => typeof v === 'string' && v.includes('very-secret-value'))).toBe(false)
    expect(held).toContain(digest('very-secret-value'))
  })
})
