import { validate, version } from 'uuid'
import { describe, expect, it } from 'vitest'
import { randomId } from '../src/uuid.js'

describe('logging: generated request ids', () => {
  it('should be valid UUID v4 strings, checked by the uuid package, over several refills', () => {
    const seen = new Set<string>()
    // 256 ids per refill: 2,000 ids cross eight of them.
    for (let i = 0; i < 2000; i++) {
      const id = randomId()
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(validate(id)).toBe(true)
      expect(version(id)).toBe(4)
      seen.add(id)
    }
    expect(seen.size).toBe(2000)
  })

  it('should spread the random bits: every hex digit appears in every random position', () => {
    const counts = Array.from({ length: 36 }, () => new Set<string>())
    for (let i = 0; i < 4000; i++) {
      const id = randomId()
      for (let p = 0; p < 36; p++) counts[p]?.add(id[p] as string)
    }
    for (let p = 0; p < 36; p++) {
      const digits = counts[p] as Set<string>
      if (p === 8 || p === 13 || p === 18 || p === 23) expect([...digits]).toEqual(['-'])
      else if (p === 14) expect([...digits]).toEqual(['4'])
      else if (p === 19) expect([...digits].sort()).toEqual(['8', '9', 'a', 'b'])
      else expect(digits.size).toBe(16)
    }
  })

  it('should return flat strings that stay valid after the pool is refilled', () => {
    const first = randomId()
    for (let i = 0; i < 600; i++) randomId()
    // A slice copies: refilling the buffer must not change an id handed out earlier.
    expect(validate(first)).toBe(true)
    expect(first).toHaveLength(36)
  })
})
