import type { Stats } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { pathMatcher } from '@shallot/stack'

/** A content coding served from a precompressed sibling file. */
export type PrecompressedEncoding = 'br' | 'zstd' | 'gzip'

/** Options of `serveStatic()`. Every option is checked when the layer is built. */
export interface ServeStaticOptions {
  /**
   * The URL path the files are served under, matched segment by segment like `mount`:
   * `'/static'` serves `root/app.js` at `/static/app.js` and never answers `/staticx`.
   * Requests outside it go to the next handler untouched.
   *
   * @default '/'
   */
  prefix?: string
  /**
   * File names tried, in order, for a request that ends with `/` (and for the `prefix`
   * itself). `false` serves no index file.
   *
   * @default ['index.html']
   */
  index?: string | readonly string[] | false
  /**
   * Redirect (301) a request for a directory that has an index file, written without the
   * trailing slash, to the same path with one: `/docs` -> `./docs/`. The `Location` is
   * relative and built from the last path segment only, so it can never point to another
   * host. `false`: such a request is a miss. A directory without an index file is always a
   * miss, with or without the slash (no listing, and no redirect that tells it exists).
   *
   * @default true
   */
  redirect?: boolean
  /**
   * Extensions tried, in order, when the requested file does not exist: `['html']` serves
   * `about.html` for `/about`. Without the dot.
   *
   * @default false
   */
  extensions?: readonly string[] | false
  /**
   * What to do with a path that has a segment starting with a dot (`/.env`, `/.git/config`):
   * - `'ignore'`: as if it did not exist (a miss);
   * - `'deny'`: 403, whether it exists or not;
   * - `'allow'`: serve it like any other file.
   *
   * `/.well-known/` (RFC 8615) is not a dotfile for this option; files inside it still are.
   *
   * @default 'ignore'
   */
  dotfiles?: 'ignore' | 'deny' | 'allow'
  /**
   * What a miss does: `true` hands the request to the next handler, `false` answers 404
   * (and 405 with `Allow: GET, HEAD` to other methods than GET and HEAD).
   *
   * @default true
   */
  fallthrough?: boolean
  /**
   * Single-page-app fallback: a file (relative to `root`, e.g. `'index.html'`) served with
   * 200 for a GET or HEAD that misses, accepts HTML (`Accept` has `text/html`), and whose last
   * path segment has no extension (`/users/42`, not `/app.js`). Never for dot paths. The
   * response has `Vary: Accept`. The file must exist at start-up.
   *
   * @default false
   */
  spa?: string | false
  /**
   * The `ETag` of each file, from its size and modification time:
   * - `'weak'`: `W/"<size>-<mtime ms>"` in hex, as send/serve-static make it. A weak tag
   *   answers `If-None-Match` (304) but never `If-Match` or `If-Range`, which need strong ones;
   * - `'strong'`: `"<size>-<mtime µs>"`, as nginx makes it (at second precision). Use it when
   *   clients resume downloads with `If-Range` or write with `If-Match`, and when no layer
   *   re-encodes the body on the fly (a compression layer must then weaken it);
   * - `false`: no `ETag`.
   *
   * Each precompressed variant has its own tag (`"...-br"`). `true` means `'weak'`.
   *
   * @default 'weak'
   */
  etag?: boolean | 'weak' | 'strong'
  /**
   * Send `Last-Modified` and honour `If-Modified-Since` / `If-Unmodified-Since` and
   * `If-Range` with a date.
   *
   * @default true
   */
  lastModified?: boolean
  /**
   * `Cache-Control: max-age`: a number of **seconds** (not milliseconds as in serve-static),
   * or a string with a unit: `'30s'`, `'10m'`, `'2h'`, `'7d'`, `'1w'`, `'1y'`. At most one
   * year.
   *
   * @default 0
   */
  maxAge?: number | string
  /**
   * Add `immutable` to `Cache-Control` (RFC 8246): the browser does not revalidate the file
   * while it is fresh, even on reload. Only for file names that change when their content does
   * (hashed assets). Needs a `maxAge`.
   *
   * @default false
   */
  immutable?: boolean
  /**
   * The `Cache-Control` header: `true` builds it from `maxAge` and `immutable`
   * (`max-age=0` by default); `false` sends none; a string is sent as is; a function of the
   * file's path (URL-style, from `root`, e.g. `'/assets/app.3f2a9c.js'`) returns the value for
   * that file, or `false` for none. The function runs once per file, not per request. A
   * string or a function excludes `maxAge` and `immutable`.
   *
   * @default true
   */
  cacheControl?: boolean | string | ((path: string) => string | false)
  /**
   * Answer `Range` requests (206, multipart/byteranges, 416) and send `Accept-Ranges: bytes`.
   *
   * @default true
   */
  acceptRanges?: boolean
  /**
   * The most ranges served in one multipart response, after overlapping and adjacent ones
   * are merged. A request with more, or with more than 100 ranges written in its header, is
   * answered with the whole file (200), as RFC 9110 §14.2 allows: no range amplification.
   *
   * @default 16
   */
  maxRanges?: number
  /**
   * Serve precompressed siblings (`app.js.br`, `app.js.zst`, `app.js.gz`) of a file to clients
   * that accept their coding, by the q-values of `Accept-Encoding`; on ties, in this list's
   * order. `true` means `['br', 'gzip']`. The response keeps the original file's
   * `Content-Type`, adds `Content-Encoding` and, for every file that has a sibling,
   * `Vary: Accept-Encoding`.
   *
   * @default false
   */
  precompressed?: boolean | readonly PrecompressedEncoding[]
  /**
   * Symbolic links:
   * - `'within-root'`: followed when their real path is inside `root`;
   * - `'follow'`: always followed (what serve-static, sirv and nginx do);
   * - `'deny'`: no file whose path under `root` goes through a link.
   *
   * A refused link is a miss. The check is made on `fs.realpath`.
   *
   * @default 'within-root'
   */
  symlinks?: 'follow' | 'within-root' | 'deny'
  /**
   * Called for every response about a file (200, 206, 304, HEAD) before its head is written,
   * with the absolute path of the file and its `fs.Stats`; may set or change headers.
   * Costs the precomputed-header fast path: prefer `cacheControl` as a function for
   * per-file cache policies.
   *
   * @default undefined
   */
  setHeaders?: (res: ServerResponse, path: string, stat: Stats) => void
  /**
   * Keep the file index fresh with `fs.watch` (one watcher per directory): added, changed
   * and deleted files are seen without a restart. `false`: nothing is indexed at start-up and
   * every request checks its file with one `fs.stat` (still reusing the precomputed headers
   * of an unchanged file). If watching fails, the layer switches to the `false` behaviour by
   * itself and emits a warning.
   *
   * @default true
   */
  watch?: boolean
  /**
   * The most files and directories kept in the index (the start-up scan stops there; files
   * found later by `stat` replace the oldest ones), and the most directories watched (files
   * in a directory beyond it are checked with `stat` on every request).
   *
   * @default 50000
   */
  maxEntries?: number
  /**
   * Keep small files in memory: `maxFileSize` (bytes) is the largest file kept, `maxSize`
   * (bytes) the total; the least recently used files go first. A file is read whole (not
   * streamed) when it is at most `maxFileSize`, and dropped from memory when the watcher sees
   * it change (with `watch: false`, when a request's `stat` does). `false`: files are always
   * streamed from disk.
   *
   * @default { maxFileSize: 262144, maxSize: 33554432 }
   */
  memoryCache?: false | { maxFileSize?: number; maxSize?: number }
}

/** @internal */
export interface Resolved {
  prefix: string
  index: readonly string[]
  redirect: boolean
  extensions: readonly string[]
  dotfiles: 'ignore' | 'deny' | 'allow'
  fallthrough: boolean
  spa: string | undefined
  etag: 'weak' | 'strong' | false
  lastModified: boolean
  cacheControl: (path: string) => string | false
  acceptRanges: boolean
  maxRanges: number
  precompressed: readonly PrecompressedEncoding[]
  symlinks: 'follow' | 'within-root' | 'deny'
  setHeaders: ((res: ServerResponse, path: string, stat: Stats) => void) | undefined
  watch: boolean
  maxEntries: number
  maxFileSize: number
  maxCacheSize: number
}

const PKG = '[@shallot/static]'

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/** Throws the start-up TypeError: `[@shallot/static] option "x" must be ..., got ...`. */
export function badOption(name: string, expectation: string, value: unknown): never {
  throw new TypeError(`${PKG} option "${name}" must be ${expectation}, got ${describe(value)}`)
}

/** Option names of the peers and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  maxage: 'did you mean "maxAge"? (in seconds)',
  single: 'did you mean "spa"? (sirv\'s option)',
  dev: 'did you mean "watch"? (the index is kept fresh by a watcher)',
  gzip: 'use "precompressed: [\'gzip\']"',
  brotli: 'use "precompressed: [\'br\']"',
  preCompressed: 'did you mean "precompressed"?',
  hidden: 'use "dotfiles"',
  serveDotFiles: 'use "dotfiles"',
  root: 'the root is the first argument of serveStatic(root, options)',
  list: 'directory listings are not served',
  ignores: 'the SPA fallback never applies to paths with an extension or a dot segment',
  onNoMatch: 'use "fallthrough" and handle the miss in the next handler',
  lastmodified: 'did you mean "lastModified"?',
}

const KNOWN = [
  'prefix',
  'index',
  'redirect',
  'extensions',
  'dotfiles',
  'fallthrough',
  'spa',
  'etag',
  'lastModified',
  'maxAge',
  'immutable',
  'cacheControl',
  'acceptRanges',
  'maxRanges',
  'precompressed',
  'symlinks',
  'setHeaders',
  'watch',
  'maxEntries',
  'memoryCache',
]

const ENCODINGS: readonly PrecompressedEncoding[] = ['br', 'zstd', 'gzip']
const YEAR = 31_536_000
const UNITS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
  y: YEAR,
}

/** A file name usable as one path segment: no separator, no NUL, not `.`/`..`. */
function isFileName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value !== '' &&
    value !== '.' &&
    value !== '..' &&
    !/[/\\\0]/.test(value)
  )
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') badOption(name, 'a boolean', value)
  return value
}

function integerOption(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    badOption(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}

function enumOption<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T
): T {
  if (value === undefined) return fallback
  if (!allowed.includes(value as T)) {
    badOption(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value)
  }
  return value as T
}

/** Parses `maxAge` into seconds. */
export function parseMaxAge(value: unknown): number {
  let seconds: number
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      badOption('maxAge', 'a whole number of seconds >= 0 or a string like "7d"', value)
    }
    seconds = value
  } else if (typeof value === 'string') {
    const m = /^(\d{1,9})\s*([smhdwy])$/.exec(value.trim())
    if (m === null) {
      badOption(
        'maxAge',
        'a whole number of seconds or a number with a unit (s, m, h, d, w, y) like "7d"',
        value
      )
    }
    seconds = Number(m[1]) * (UNITS[m[2] as string] as number)
  } else {
    return badOption('maxAge', 'a number of seconds or a string like "7d"', value)
  }
  if (seconds > YEAR) {
    badOption(
      'maxAge',
      `at most one year (${YEAR} seconds; it is in seconds, not milliseconds as in serve-static)`,
      value
    )
  }
  return seconds
}

/** Validates the options and fills in the defaults. */
export function resolveOptions(options: unknown): Resolved {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${PKG} options must be an object, got ${describe(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      const hint = HINTS[key]
      throw new TypeError(`${PKG} unknown option "${key}"${hint === undefined ? '' : `: ${hint}`}`)
    }
  }
  const o = options as ServeStaticOptions

  // prefix: checked exactly as mount checks its prefix.
  let prefix = ''
  if (o.prefix !== undefined) {
    if (typeof o.prefix !== 'string') badOption('prefix', 'a path starting with "/"', o.prefix)
    pathMatcher(o.prefix, { label: `${PKG} option "prefix"` })
    prefix = o.prefix.length > 1 && o.prefix.endsWith('/') ? o.prefix.slice(0, -1) : o.prefix
    if (prefix === '/') prefix = ''
  }

  let index: readonly string[] = ['index.html']
  if (o.index === false) index = []
  else if (typeof o.index === 'string') index = [o.index]
  else if (o.index !== undefined) {
    if (!Array.isArray(o.index)) badOption('index', 'a file name, a list of them or false', o.index)
    index = o.index
  }
  for (const name of index) {
    if (!isFileName(name)) badOption('index', 'file names without "/" or "\\"', name)
  }

  let extensions: readonly string[] = []
  if (o.extensions !== undefined && o.extensions !== false) {
    if (!Array.isArray(o.extensions)) {
      badOption('extensions', 'a list of extensions such as ["html"], or false', o.extensions)
    }
    for (const ext of o.extensions as unknown[]) {
      if (!isFileName(ext) || (ext as string).startsWith('.')) {
        badOption('extensions', 'extensions without the dot, such as ["html"]', ext)
      }
    }
    extensions = o.extensions
  }

  let spa: string | undefined
  if (o.spa !== undefined && o.spa !== false) {
    const file = typeof o.spa === 'string' && o.spa.startsWith('/') ? o.spa.slice(1) : o.spa
    if (typeof file !== 'string' || file === '' || file.split('/').some((s) => !isFileName(s))) {
      badOption('spa', 'a file path relative to root, such as "index.html", or false', o.spa)
    }
    spa = file
  }

  let etag: 'weak' | 'strong' | false = 'weak'
  if (o.etag === false) etag = false
  else if (o.etag === true || o.etag === undefined) etag = 'weak'
  else etag = enumOption('etag', o.etag, ['weak', 'strong'] as const, 'weak')

  // Cache-Control
  let cacheControl: (path: string) => string | false
  const cc = o.cacheControl ?? true
  if (cc !== true && (o.maxAge !== undefined || o.immutable !== undefined)) {
    throw new TypeError(
      `${PKG} option "cacheControl" ${cc === false ? 'false' : 'as a string or function'} cannot be combined with "maxAge" or "immutable"`
    )
  }
  if (cc === true) {
    const maxAge = o.maxAge === undefined ? 0 : parseMaxAge(o.maxAge)
    const immutable = booleanOption('immutable', o.immutable, false)
    if (immutable && maxAge === 0) {
      badOption('immutable', 'used with a "maxAge" above 0', o.immutable)
    }
    const value = `max-age=${maxAge}${immutable ? ', immutable' : ''}`
    cacheControl = () => value
  } else if (cc === false) {
    cacheControl = () => false
  } else if (typeof cc === 'string') {
    if (!isHeaderValue(cc)) badOption('cacheControl', 'a valid header value', cc)
    cacheControl = () => cc
  } else if (typeof cc === 'function') {
    cacheControl = (path) => {
      const value = cc(path)
      if (value === false) return false
      if (typeof value !== 'string' || !isHeaderValue(value)) {
        throw new TypeError(
          `${PKG} option "cacheControl": the function must return a header value or false, got ${describe(value)} for ${JSON.stringify(path)}`
        )
      }
      return value
    }
  } else {
    return badOption('cacheControl', 'a boolean, a string or a function', cc)
  }

  let precompressed: readonly PrecompressedEncoding[] = []
  if (o.precompressed === true) precompressed = ['br', 'gzip']
  else if (o.precompressed !== undefined && o.precompressed !== false) {
    if (!Array.isArray(o.precompressed) || o.precompressed.length === 0) {
      badOption(
        'precompressed',
        "true, false or a non-empty list of 'br', 'zstd', 'gzip'",
        o.precompressed
      )
    }
    for (const e of o.precompressed as unknown[]) {
      if (!ENCODINGS.includes(e as PrecompressedEncoding)) {
        badOption('precompressed', "a list of 'br', 'zstd', 'gzip'", e)
      }
    }
    if (new Set(o.precompressed).size !== o.precompressed.length) {
      badOption('precompressed', 'a list without duplicates', o.precompressed)
    }
    precompressed = o.precompressed
  }

  if (o.setHeaders !== undefined && typeof o.setHeaders !== 'function') {
    badOption('setHeaders', 'a function (res, path, stat) => void', o.setHeaders)
  }

  let maxFileSize = 262_144
  let maxCacheSize = 33_554_432
  if (o.memoryCache === false) {
    maxFileSize = 0
    maxCacheSize = 0
  } else if (o.memoryCache !== undefined) {
    const m = o.memoryCache as unknown
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      badOption('memoryCache', 'false or an object { maxFileSize, maxSize }', m)
    }
    for (const key of Object.keys(m)) {
      if (key !== 'maxFileSize' && key !== 'maxSize') {
        throw new TypeError(
          `${PKG} option "memoryCache" has an unknown key "${key}" (known: maxFileSize, maxSize)`
        )
      }
    }
    const mc = m as { maxFileSize?: unknown; maxSize?: unknown }
    maxCacheSize = integerOption('memoryCache.maxSize', mc.maxSize, 0, 2 ** 32, maxCacheSize)
    maxFileSize = integerOption(
      'memoryCache.maxFileSize',
      mc.maxFileSize,
      0,
      Math.min(maxCacheSize, 2 ** 30),
      Math.min(maxFileSize, maxCacheSize)
    )
  }

  return {
    prefix,
    index,
    redirect: booleanOption('redirect', o.redirect, true),
    extensions,
    dotfiles: enumOption('dotfiles', o.dotfiles, ['ignore', 'deny', 'allow'] as const, 'ignore'),
    fallthrough: booleanOption('fallthrough', o.fallthrough, true),
    spa,
    etag,
    lastModified: booleanOption('lastModified', o.lastModified, true),
    cacheControl,
    acceptRanges: booleanOption('acceptRanges', o.acceptRanges, true),
    maxRanges: integerOption('maxRanges', o.maxRanges, 1, 100, 16),
    precompressed,
    symlinks: enumOption(
      'symlinks',
      o.symlinks,
      ['within-root', 'follow', 'deny'] as const,
      'within-root'
    ),
    setHeaders: o.setHeaders,
    watch: booleanOption('watch', o.watch, true),
    maxEntries: integerOption('maxEntries', o.maxEntries, 1, 10_000_000, 50_000),
    maxFileSize,
    maxCacheSize,
  }
}

/** A value Node accepts in a header: visible ASCII, spaces and tabs. */
function isHeaderValue(value: string): boolean {
  return /^[\t\x20-\x7e]*$/.test(value) && value.trim() !== ''
}
