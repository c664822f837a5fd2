import { describe, expect, it } from 'vitest'
import { formatDecimal } from '../src/decimal.js'

describe('formatDecimal', () => {
  it('should print what toFixed prints, for every digit count, on a sweep of values', () => {
    // A deterministic sweep: small, typical and large durations, and values at x.xxx5.
    let seed = 42
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    const values = [0, 0.0005, 0.0015, 0.9995, 1.0005, 2.5, 999.9995, 123_456.7895, 1e9 - 0.5]
    for (let i = 0; i < 20_000; i++) values.push(random() * 10 ** ((i % 7) - 1))
    for (let i = 0; i < 2_000; i++) values.push(Math.floor(random() * 1e6) / 1e3 + 0.0005)
    for (const v of values) {
      for (let digits = 0; digits <= 6; digits++) {
        expect(formatDecimal(v, digits), `${v} with ${digits} digits`).toBe(v.toFixed(digits))
      }
    }
  })

  it('should never print a negative number, -0 or an exponent', () => {
    expect(formatDecimal(-0, 3)).toBe('0.000')
    expect(formatDecimal(-12.5, 1)).toBe('0.0')
    expect(formatDecimal(1e-9, 3)).toBe('0.000')
    expect(formatDecimal(1e12, 2)).toBe('1000000000000.00')
    expect(formatDecimal(0.1 + 0.2, 6)).toBe('0.300000')
  })
})
