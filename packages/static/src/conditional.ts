import type { IncomingHttpHeaders } from 'node:http'

/** What the validators of one representation are, as the conditional checks need them. */
export interface Validators {
  /** The ETag as sent (`W/"…"` or `"…"`), or undefined when ETags are off. */
  etag: string | undefined
  /** The opaque-tag (`"…"`, quotes included) of `etag`. */
  opaque: string | undefined
  /** Whether `etag` is weak. */
  weak: boolean
  /** The `Last-Modified` value as sent, or undefined when it is off. */
  lastModified: string | undefined
  /** The modification time in ms, truncated to whole seconds (what Last-Modified says). */
  mtimeSec: number
}

/** The outcome of the preconditions: go on, 304, or 412. */
export const PROCEED = 0
export const NOT_MODIFIED = 304
export const PRECONDITION_FAILED = 412

/**
 * Evaluates the preconditions of a GET or HEAD in the order of RFC 9110 §13.2.2:
 * If-Match, else If-Unmodified-Since (412); If-None-Match, else If-Modified-Since (304).
 * If-Range is evaluated later, with the Range header.
 */
export function evaluatePreconditions(h: IncomingHttpHeaders, v: Validators): number {
  const ifMatch = h['if-match']
  if (ifMatch !== undefined) {
    // §13.1.1: strong comparison; `*` is true because the representation exists.
    if (!matchesList(ifMatch, v, true)) return PRECONDITION_FAILED
  } else {
    const ius = h['if-unmodified-since']
    if (ius !== undefined && v.lastModified !== undefined) {
      // §13.1.4: ignored when the date is invalid.
      const date = parseHttpDate(ius)
      if (!Number.isNaN(date) && v.mtimeSec > date) return PRECONDITION_FAILED
    }
  }
  const ifNoneMatch = h['if-none-match']
  if (ifNoneMatch !== undefined) {
    // §13.1.2: weak comparison; for GET/HEAD a match is a 304.
    if (ifNoneMatch === v.etag || matchesList(ifNoneMatch, v, false)) return NOT_MODIFIED
    return PROCEED
  }
  const ims = h['if-modified-since']
  if (ims !== undefined && v.lastModified !== undefined) {
    // §13.1.3: ignored with If-None-Match (above), when invalid, or later than now.
    if (ims === v.lastModified) return NOT_MODIFIED
    const date = parseHttpDate(ims)
    if (!Number.isNaN(date) && date <= Date.now() && v.mtimeSec <= date) return NOT_MODIFIED
  }
  return PROCEED
}

/**
 * If-Range (RFC 9110 §13.1.5): true when the Range header may be honoured. An entity-tag
 * must match strongly; a date must equal Last-Modified exactly, and Last-Modified must be a
 * strong validator (at least one second older than now).
 */
export function ifRangeHolds(value: string, v: Validators): boolean {
  const s = value.trim()
  if (s.startsWith('"') || s.startsWith('W/')) {
    return v.etag !== undefined && !v.weak && !s.startsWith('W/') && s === v.opaque
  }
  if (v.lastModified === undefined) return false
  const date = parseHttpDate(s)
  return !Number.isNaN(date) && date === v.mtimeSec && v.mtimeSec + 1000 <= Date.now()
}

/**
 * Whether an If-Match / If-None-Match list (`*`, or entity-tags separated by commas) matches
 * the current ETag, by strong or weak comparison (RFC 9110 §8.8.3.2). A list that cannot be
 * parsed matches nothing.
 */
export function matchesList(list: string, v: Validators, strong: boolean): boolean {
  if (list.trim() === '*') return true
  if (v.opaque === undefined || (strong && v.weak)) return false
  const tags = parseEntityTags(list)
  if (tags === undefined) return false
  for (const t of tags) {
    if (t.opaque === v.opaque && (!strong || !t.weak)) return true
  }
  return false
}

interface EntityTag {
  weak: boolean
  opaque: string
}

/**
 * Parses `1#entity-tag` (RFC 9110 §8.8.3): `[W/] DQUOTE *etagc DQUOTE`, separated by commas
 * with optional whitespace. Commas inside the quotes belong to the tag. At most 64 tags.
 */
export function parseEntityTags(list: string): EntityTag[] | undefined {
  const out: EntityTag[] = []
  let i = 0
  const n = list.length
  while (i < n) {
    let c = list.charCodeAt(i)
    if (c === 0x20 || c === 0x09 || c === 0x2c) {
      i++
      continue
    }
    let weak = false
    if (c === 0x57 && list.charCodeAt(i + 1) === 0x2f) {
      weak = true
      i += 2
      c = list.charCodeAt(i)
    }
    if (c !== 0x22) return undefined
    const end = list.indexOf('"', i + 1)
    if (end === -1) return undefined
    out.push({ weak, opaque: list.slice(i, end + 1) })
    if (out.length > 64) return undefined
    i = end + 1
    // After a tag: optional whitespace, then a comma or the end.
    while (i < n && (list.charCodeAt(i) === 0x20 || list.charCodeAt(i) === 0x09)) i++
    if (i < n && list.charCodeAt(i) !== 0x2c) return undefined
  }
  return out
}

/** Milliseconds since the epoch of an HTTP-date (RFC 9110 §5.6.7), or NaN. */
export function parseHttpDate(value: string): number {
  // IMF-fixdate, the obsolete RFC 850 and asctime forms are all understood by Date.parse;
  // refuse the rest of what Date.parse accepts (ISO strings, bare numbers).
  if (value.length < 24 || value.length > 40 || !/^[A-Za-z]{3}/.test(value)) return Number.NaN
  return Date.parse(value)
}
