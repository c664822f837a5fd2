import { describe, expect, it } from 'vitest'
import { qualityValues } from '../src/index.js'

describe('qualityValues', () => {
  const cases: [string, [string, number][]][] = [
    [
      'gzip, br',
      [
        ['gzip', 1],
        ['br', 1],
      ],
    ],
    [
      'GZIP;q=0.5 , br;Q=1.000',
      [
        ['gzip', 0.5],
        ['br', 1],
      ],
    ],
    [
      'text/html;level=1;q=0.7, */*;q=0',
      [
        ['text/html', 0.7],
        ['*/*', 0],
      ],
    ],
    // malformed q-values leave the element out: never accepted by accident
    ['gzip;q=2, br;q=0.1234, deflate;q=x, identity;q=1.5, zstd;q=0.9', [['zstd', 0.9]]],
    // a value listed twice counts with its higher q-value
    ['gzip;q=0.2, gzip;q=0.8, gzip;q=0.4', [['gzip', 0.8]]],
    [' , ,;q=1', []],
  ]
  for (const [header, expected] of cases) {
    it(`should read ${JSON.stringify(header)}`, () => {
      expect([...qualityValues(header)]).toEqual(expected)
    })
  }

  it('should read at most 64 elements of a long header', () => {
    const header = Array.from({ length: 500 }, (_, i) => `c${i}`).join(',')
    const map = qualityValues(header)
    expect(map.size).toBe(64)
    expect(map.has('c63')).toBe(true)
    expect(map.has('c64')).toBe(false)
  })
})
