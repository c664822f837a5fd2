import type { IncomingMessage } from 'node:http'
import { HttpError } from './http-error.js'

/*
 * One canonical request path for every layer.
 *
 * The path of `req.url` is percent-decoded (as UTF-8) and normalised once:
 *  - refused with 400: invalid percent-encoding, invalid UTF-8, NUL and other control
 *    characters (raw or encoded), an encoded `/` (%2F) or `\` (%5C), a raw `\`, and `..`
 *    segments that would climb above the root;
 *  - normalised: `.` and `..` segments resolved (RFC 3986 §5.2.4), empty segments (`//`)
 *    collapsed, needless percent-encoding removed (`%61` -> `a`), the rest re-encoded with
 *    upper-case hex. A trailing slash is kept.
 * `req.url` is rewritten to the canonical encoded form (query string untouched), so a router
 * behind the stack sees the same path that `mount`, auth `paths`, static lookup and the
 * monitoring routes decided on. The raw value stays readable through `getOriginalUrl(req)`.
 */

const kPath: unique symbol = Symbol('shallot.path')
const kPathUrl: unique symbol = Symbol('shallot.pathUrl')
const kBase: unique symbol = Symbol('shallot.base')
const kOriginalUrl: unique symbol = Symbol('shallot.originalUrl')

interface PathState extends IncomingMessage {
  [kPath]?: string
  [kPathUrl]?: string
  [kBase]?: string
  [kOriginalUrl]?: string
}

// Characters that may stand raw in a canonical path segment: RFC 3986 pchar minus `%`,
// plus the characters browsers send unencoded in paths (`|`, `^`, `[`, `]`).
const RAW = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@|^[]") {
  RAW[c.charCodeAt(0)] = 1
}
const SLASH = 0x2f
const DOT = 0x2e
const PERCENT = 0x25
const QUESTION = 0x3f
const HEX = '0123456789ABCDEF'

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The result of canonicalising a path: the decoded value and its canonical encoding. @internal */
export interface CanonicalPath {
  decoded: string
  encoded: string
}

/**
 * Canonicalises a raw origin-form path (no query). Returns a string saying what is wrong
 * when the path must be refused.
 * @internal
 */
export function canonicalize(raw: string): CanonicalPath | string {
  if (raw.charCodeAt(0) !== SLASH) return 'path must start with "/"'
  // Fast path: only raw-safe characters, no `//`, no segment starting with `.`.
  let prev = SLASH
  let i = 1
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === SLASH) {
      if (prev === SLASH) break
    } else if (c >= 128 || RAW[c] === 0 || (c === DOT && prev === SLASH)) {
      break
    }
    prev = c
  }
  if (i === raw.length) return { decoded: raw, encoded: raw }
  return slowCanonicalize(raw)
}

function slowCanonicalize(raw: string): CanonicalPath | string {
  const rawSegments = raw.split('/')
  const out: string[] = []
  const last = rawSegments.length - 1
  for (let s = 1; s <= last; s++) {
    const decoded = decodeSegment(rawSegments[s] as string)
    if (decoded.invalid !== undefined) return decoded.invalid
    const seg = decoded.value
    if (seg === '..') {
      if (out.length === 0) return 'path climbs above the root'
      out.pop()
      if (s === last) out.push('')
    } else if (seg === '.' || seg === '') {
      if (s === last) out.push('')
    } else {
      out.push(seg)
    }
  }
  // `out` holds no empty segment but a trailing one (the trailing slash).
  const segments = out
  const decodedPath = `/${segments.join('/')}`
  let encodedPath = '/'
  for (let s = 0; s < segments.length; s++) {
    if (s > 0) encodedPath += '/'
    encodedPath += encodeSegment(segments[s] as string)
  }
  return { decoded: decodedPath, encoded: encodedPath }
}

interface Decoded {
  value: string
  invalid?: string
}

function decodeSegment(seg: string): Decoded {
  let bytes: number[] | undefined
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i)
    if (c === PERCENT) {
      const hi = hexValue(seg.charCodeAt(i + 1))
      const lo = hexValue(seg.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return { value: '', invalid: 'invalid percent-encoding in path' }
      const b = hi * 16 + lo
      if (b === SLASH) return { value: '', invalid: 'encoded "/" in path' }
      if (b === 0x5c) return { value: '', invalid: 'encoded "\\" in path' }
      if (b < 0x20 || b === 0x7f) return { value: '', invalid: 'control character in path' }
      bytes ??= []
      bytes.push(b)
      i += 2
    } else {
      if (c < 0x20 || c === 0x7f) return { value: '', invalid: 'control character in path' }
      if (c === 0x5c) return { value: '', invalid: '"\\" in path' }
      if (c >= 128) return { value: '', invalid: 'non-ASCII character in path' }
      bytes ??= []
      bytes.push(c)
    }
  }
  if (bytes === undefined) return { value: '' }
  try {
    return { value: fatalUtf8.decode(Uint8Array.from(bytes)) }
  } catch {
    return { value: '', invalid: 'invalid UTF-8 in path' }
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

const utf8 = new TextEncoder()

/** Canonical encoding of one decoded segment: raw-safe ASCII kept, everything else %XX (UTF-8). @internal */
export function encodeSegment(seg: string): string {
  let out = ''
  let plain = 0
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i)
    if (c < 128 && RAW[c] === 1) continue
    out += seg.slice(plain, i)
    // A surrogate pair is encoded as one code point.
    const cp = seg.codePointAt(i) as number
    const char = String.fromCodePoint(cp)
    for (const b of utf8.encode(char)) out += `%${HEX[b >> 4]}${HEX[b & 15]}`
    i += char.length - 1
    plain = i + 1
  }
  return plain === 0 ? seg : out + seg.slice(plain)
}

/** Canonical encoding of a decoded canonical path. @internal */
export function encodePath(decoded: string): string {
  return decoded.split('/').map(encodeSegment).join('/')
}

/**
 * Canonicalises `req.url` if it has not been done for its current value, rewriting it to the
 * canonical form. Throws a 400 HttpError for a path that must be refused.
 * @internal
 */
function ensure(req: PathState): string {
  const url = req.url ?? '/'
  if (req[kPathUrl] === url) return req[kPath] as string
  if (req[kOriginalUrl] === undefined) req[kOriginalUrl] = url
  let q = url.indexOf('?')
  let target = url
  if (url.charCodeAt(0) !== SLASH) {
    if (url === '*') {
      req[kPath] = '*'
      req[kPathUrl] = url
      return '*'
    }
    // absolute-form (RFC 9112 §3.2.2): keep only the origin-form part
    const scheme = /^https?:\/\//i.exec(url)
    if (scheme === null) throw badPath('invalid request target')
    let end = scheme[0].length
    while (end < url.length) {
      const c = url.charCodeAt(end)
      if (c === SLASH || c === QUESTION || c === 0x23) break
      end++
    }
    const hash = url.indexOf('#', end)
    const rest = url.slice(end, hash === -1 ? url.length : hash)
    target = rest.charCodeAt(0) === SLASH ? rest : `/${rest}`
    q = target.indexOf('?')
  }
  const rawPath = q === -1 ? target : target.slice(0, q)
  const result = canonicalize(rawPath)
  if (typeof result === 'string') throw badPath(result)
  const canonicalUrl =
    result.encoded === rawPath && target === url
      ? url
      : q === -1
        ? result.encoded
        : result.encoded + target.slice(q)
  if (canonicalUrl !== url) req.url = canonicalUrl
  req[kPath] = result.decoded
  req[kPathUrl] = canonicalUrl
  return result.decoded
}

function badPath(why: string): HttpError {
  return new HttpError(400, `Bad Request: ${why}`)
}

/**
 * The canonical, percent-decoded path of the request, relative to the current `mount`
 * (WSGI's PATH_INFO). The first call canonicalises `req.url` (the stack does it before any
 * layer runs). Throws a 400 {@link HttpError} for a path that must be refused.
 */
export function getPath(req: IncomingMessage): string {
  return ensure(req as PathState)
}

/** The decoded prefix removed by the enclosing `mount`s (WSGI's SCRIPT_NAME); `''` at the root. */
export function getBasePath(req: IncomingMessage): string {
  return (req as PathState)[kBase] ?? ''
}

/** The request target exactly as the client sent it, before canonicalisation and mounts. */
export function getOriginalUrl(req: IncomingMessage): string {
  return (req as PathState)[kOriginalUrl] ?? req.url ?? '/'
}

/**
 * Moves `prefix` (decoded, canonical, no trailing slash) from the path into the base.
 * `encodedPrefix` is its canonical encoding. Caller has checked that the path matches.
 * @internal
 */
export function enterMount(
  req: IncomingMessage,
  prefix: string,
  encodedPrefix: string,
  path: string
): void {
  const r = req as PathState
  const url = req.url as string
  let rest = url.slice(encodedPrefix.length)
  if (rest.length === 0 || rest.charCodeAt(0) === QUESTION) rest = `/${rest}`
  req.url = rest
  r[kPath] = path.length === prefix.length ? '/' : path.slice(prefix.length)
  r[kPathUrl] = rest
  r[kBase] = (r[kBase] ?? '') + prefix
}

/** Puts back what {@link enterMount} changed. @internal */
export function leaveMount(req: IncomingMessage, prefix: string, url: string, path: string): void {
  const r = req as PathState
  req.url = url
  r[kPath] = path
  r[kPathUrl] = url
  const base = r[kBase] as string
  r[kBase] = base.slice(0, base.length - prefix.length)
}
