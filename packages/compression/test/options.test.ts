import { describe, expect, it } from 'vitest'
import { type CompressionOptions, compression } from '../src/index.js'

function rejects(options: unknown, message: RegExp): void {
  expect(() => compression(options as CompressionOptions)).toThrow(TypeError)
  expect(() => compression(options as CompressionOptions)).toThrow(message)
}

describe('compression: options are checked at start-up', () => {
  it('should build with no options and with every option set', () => {
    expect(typeof compression()).toBe('function')
    expect(typeof compression({})).toBe('function')
    expect(
      typeof compression({
        encodings: ['gzip', 'br', 'deflate'],
        threshold: 0,
        filter: () => true,
        compressEventStream: true,
        level: 9,
        memLevel: 9,
        windowBits: 9,
        brotliQuality: 11,
        chunkSize: 64,
      })
    ).toBe('function')
  })

  it('should reject options that are not an object', () => {
    for (const bad of [null, 'x', 42, [], true]) {
      rejects(bad, /^\[@shallot\/compression\] options must be an object/)
    }
  })

  it('should reject unknown options, pointing at ours for the peers', () => {
    rejects({ brotli: { params: {} } }, /unknown option "brotli": use "brotliQuality"/)
    rejects({ enforceEncoding: 'gzip' }, /unknown option "enforceEncoding": not supported/)
    rejects({ encoding: 'gzip' }, /unknown option "encoding": use "encodings"/)
    rejects({ customTypes: /x/ }, /unknown option "customTypes": use "filter"/)
    rejects({ zlibOptions: {} }, /use "level", "memLevel", "windowBits" and "chunkSize"/)
    rejects({ strategy: 1 }, /unknown option "strategy": not exposed/)
    rejects({ colour: 'red' }, /unknown option "colour"$/)
  })

  it('should reject an invalid encodings', () => {
    const name = /^\[@shallot\/compression\] option "encodings"/
    for (const bad of ['gzip', 42, {}, [], ['gzip', 'gzip'], ['identity'], ['GZIP'], [null]]) {
      rejects({ encodings: bad }, name)
    }
    rejects({ encodings: [] }, /must list at least one coding/)
    rejects({ encodings: ['br', 'br'] }, /lists "br" twice/)
    rejects({ encodings: ['zstd'] }, /zstd is not supported/)
  })

  it('should reject an invalid threshold', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1kb', null, true]) {
      rejects(
        { threshold: bad },
        /^\[@shallot\/compression\] option "threshold" must be a non-negative integer number of bytes/
      )
    }
    rejects({ threshold: '1kb' }, /got "1kb" \(write 1024, not "1kb"\)/)
  })

  it('should reject a filter that is not a function', () => {
    for (const bad of [true, 'json', /json/, {}]) {
      rejects({ filter: bad }, /^\[@shallot\/compression\] option "filter" must be a function/)
    }
  })

  it('should reject a compressEventStream that is not a boolean', () => {
    for (const bad of ['yes', 1, null]) {
      rejects(
        { compressEventStream: bad },
        /^\[@shallot\/compression\] option "compressEventStream" must be a boolean/
      )
    }
  })

  it('should reject zlib and brotli numbers out of range', () => {
    const cases: [keyof CompressionOptions, unknown[], string][] = [
      ['level', [-1, 10, 1.5, '6', null], 'from 0 to 9'],
      ['memLevel', [0, 10, '8'], 'from 1 to 9'],
      ['windowBits', [8, 16, 15.5], 'from 9 to 15'],
      ['brotliQuality', [-1, 12, 4.5, '4'], 'from 0 to 11'],
      ['chunkSize', [0, 63, 2 ** 31, 1000.5, '16k'], 'from 64 to 1073741824'],
    ]
    for (const [name, bads, range] of cases) {
      for (const bad of bads) {
        rejects(
          { [name]: bad },
          new RegExp(
            `^\\[@shallot/compression\\] option "${name}" must be an integer ${range}, got`
          )
        )
      }
    }
  })
})
