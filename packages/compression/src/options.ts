import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants } from 'node:zlib'
import { type CompressionEncoding, ENCODINGS } from './negotiate.js'

/**
 * Decides, just before the head is written, whether a response may be compressed. It sees
 * the final status and headers (those set by inner layers' `onHeaders` listeners too).
 * Return `true` to allow compression; the other checks (size, `no-transform`, an existing
 * `Content-Encoding`, the client's `Accept-Encoding`) still apply.
 */
export type CompressionFilter = (req: IncomingMessage, res: ServerResponse) => boolean

/** Options of `compression()`. Every option is checked when the layer is built. */
export interface CompressionOptions {
  /**
   * The codings to offer, in the server's order of preference: when the client gives two
   * codings the same `q` (browsers send `gzip, deflate, br, zstd`, all `q=1`), the first one
   * listed here wins. A higher `q` from the client always wins. Leave `'br'` out for clients
   * or proxies that mishandle it.
   *
   * @default ['br', 'gzip', 'deflate']
   * @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
   */
  encodings?: readonly CompressionEncoding[]
  /**
   * The smallest body, in bytes, worth compressing. Known only when the response has a
   * `Content-Length` or is sent with a single `res.end(body)`; a body streamed with
   * `res.write` is compressed whatever its size. Smaller bodies are sent as they are, with
   * their `Content-Length`.
   *
   * @default 1024
   */
  threshold?: number
  /**
   * Which responses may be compressed, decided at head time. The default,
   * {@link defaultFilter}, allows types that compress (the `compressible` package, from
   * mime-db: `text/*`, JSON, JavaScript, SVG...). Call it from your own to add a rule:
   * `filter: (req, res) => !res.hasHeader('x-no-compression') && defaultFilter(req, res)`.
   *
   * Partial (206), bodiless (1xx, 204, 304) and `text/event-stream` responses (unless
   * `compressEventStream`) are never compressed, whatever the filter says.
   *
   * @default defaultFilter
   */
  filter?: CompressionFilter
  /**
   * Compress `text/event-stream` (server-sent events). Each `res.write` is then flushed
   * through the compressor at once, so every event reaches the client when it is written.
   * Off by default: an event is small, so a flush per event saves little, and it costs a
   * compressor (about 256 KiB of zlib state for gzip at the defaults) per open stream.
   *
   * @default false
   */
  compressEventStream?: boolean
  /**
   * gzip and deflate compression level, from 0 (none) to 9 (smallest, slowest).
   *
   * @default 6
   */
  level?: number
  /**
   * gzip and deflate memory level, from 1 (least memory, slower) to 9 (fastest).
   *
   * @default 8
   */
  memLevel?: number
  /**
   * gzip and deflate window size, as a base-2 logarithm from 9 to 15: smaller saves memory
   * per response and compresses less.
   *
   * @default 15
   */
  windowBits?: number
  /**
   * Brotli quality, from 0 (fastest) to 11 (smallest). The default, 4, is what the
   * `compression` package and Fastify use: on a 20 KiB JSON body it takes about as long as
   * gzip level 6 (128 µs against 107 µs) for a body 5% smaller (1919 bytes against 2017).
   * Quality 11 makes it 1230 bytes but takes 28 ms: for precompressing static files, not
   * for responses made per request.
   *
   * @default 4
   */
  brotliQuality?: number
  /**
   * Size in bytes of the compressor's output chunks, at least 64.
   *
   * @default 16384
   */
  chunkSize?: number
}

/** @internal */
export interface Resolved {
  encodings: readonly CompressionEncoding[]
  threshold: number
  filter: CompressionFilter | undefined
  compressEventStream: boolean
  /** Options for the compression package (zlib and brotli options included). */
  zlib: {
    level: number
    memLevel: number
    windowBits: number
    chunkSize: number
    brotli: { chunkSize: number; params: Record<number, number> }
  }
}

const PKG = '[@shallot/compression]'

/** Options of the peers and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  brotli: 'use "brotliQuality"; other brotli parameters are not exposed',
  enforceEncoding:
    'not supported: a request without Accept-Encoding is answered uncompressed, as most clients that omit it cannot decode',
  strategy: 'not exposed: the zlib default strategy suits text',
  encoding: 'use "encodings", a list in order of preference',
  customTypes: 'use "filter"',
  contentTypeFilter: 'use "filter"',
  zlibOptions: 'use "level", "memLevel", "windowBits" and "chunkSize"',
  brotliOptions: 'use "brotliQuality"',
  quality: 'use "brotliQuality" (brotli) or "level" (gzip and deflate)',
}

const KNOWN: ReadonlySet<string> = new Set([
  'encodings',
  'threshold',
  'filter',
  'compressEventStream',
  'level',
  'memLevel',
  'windowBits',
  'brotliQuality',
  'chunkSize',
])

/** A short, safe rendering of a bad value for an error message. @internal */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  }
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'symbol' || typeof value === 'bigint') return typeof value
  return String(value)
}

function fail(name: string, message: string): never {
  throw new TypeError(`${PKG} option "${name}" ${message}`)
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    fail(name, `must be an integer ${range}, got ${show(value)}`)
  }
  return value
}

function encodingList(value: unknown): readonly CompressionEncoding[] {
  if (value === undefined) return ENCODINGS
  if (!Array.isArray(value)) {
    fail('encodings', `must be an array of 'br', 'gzip' and 'deflate', got ${show(value)}`)
  }
  if (value.length === 0) {
    fail(
      'encodings',
      'must list at least one coding (to turn compression off, leave the layer out)'
    )
  }
  const out: CompressionEncoding[] = []
  for (const item of value as unknown[]) {
    if (item !== 'br' && item !== 'gzip' && item !== 'deflate') {
      const hint = item === 'zstd' ? ' (zstd is not supported by Node 20)' : ''
      fail('encodings', `must contain only 'br', 'gzip' and 'deflate', got ${show(item)}${hint}`)
    }
    if (out.includes(item)) fail('encodings', `lists ${show(item)} twice`)
    out.push(item)
  }
  return out
}

/** Validates the options and precomputes what the layer needs. @internal */
export function resolveOptions(options: unknown): Resolved {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${PKG} options must be an object, got ${show(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (KNOWN.has(key)) continue
    const hint = HINTS[key]
    throw new TypeError(`${PKG} unknown option "${key}"${hint === undefined ? '' : `: ${hint}`}`)
  }
  const o = options as CompressionOptions

  let threshold = 1024
  if (o.threshold !== undefined) {
    const t = o.threshold as unknown
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
      fail(
        'threshold',
        `must be a non-negative integer number of bytes, got ${show(t)}${typeof t === 'string' ? ' (write 1024, not "1kb")' : ''}`
      )
    }
    threshold = t
  }
  if (o.filter !== undefined && typeof o.filter !== 'function') {
    fail('filter', `must be a function (req, res) => boolean, got ${show(o.filter)}`)
  }
  const compressEventStream = o.compressEventStream === undefined ? false : o.compressEventStream
  if (typeof compressEventStream !== 'boolean') {
    fail('compressEventStream', `must be a boolean, got ${show(compressEventStream)}`)
  }
  const chunkSize = integer('chunkSize', o.chunkSize, 64, 2 ** 30, constants.Z_DEFAULT_CHUNK)
  const quality = integer(
    'brotliQuality',
    o.brotliQuality,
    constants.BROTLI_MIN_QUALITY,
    constants.BROTLI_MAX_QUALITY,
    4
  )
  return {
    encodings: encodingList(o.encodings),
    threshold,
    filter: o.filter,
    compressEventStream,
    zlib: {
      level: integer('level', o.level, 0, 9, 6),
      memLevel: integer('memLevel', o.memLevel, 1, 9, 8),
      windowBits: integer('windowBits', o.windowBits, 9, 15, 15),
      chunkSize,
      brotli: { chunkSize, params: { [constants.BROTLI_PARAM_QUALITY]: quality } },
    },
  }
}
