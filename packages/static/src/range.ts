/** An inclusive byte range of the representation. */
export interface ByteRange {
  start: number
  end: number
}

/** The Range header is to be ignored: answer 200 with the whole representation. */
export const IGNORE = 0
/** No range is satisfiable: answer 416. */
export const UNSATISFIABLE = 1

/** Ranges written in one header beyond which it is ignored (RFC 9110 §14.2 allows it). */
export const MAX_RANGE_SPECS = 100

const SPEC = /^(\d*)-(\d*)$/

/**
 * Parses a `Range` header against a representation of `size` bytes (RFC 9110 §14.1.2):
 * `bytes=0-99`, `bytes=500-`, `bytes=-500`, or a list of those.
 *
 * Returns {@link IGNORE} for a header to ignore (another unit, a syntax error, a range whose
 * last position is before its first, more than {@link MAX_RANGE_SPECS} ranges, more than
 * `maxRanges` ranges once merged, an empty representation); {@link UNSATISFIABLE} when none
 * of the ranges is satisfiable; otherwise the satisfiable ranges, sorted, with overlapping
 * and adjacent ones merged (§14.6 allows it whatever the order asked for).
 */
export function parseRange(
  header: string,
  size: number,
  maxRanges: number
): ByteRange[] | typeof IGNORE | typeof UNSATISFIABLE {
  const eq = header.indexOf('=')
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return IGNORE
  if (size === 0) return IGNORE
  const specs = header.slice(eq + 1).split(',')
  if (specs.length > MAX_RANGE_SPECS) return IGNORE
  const ranges: ByteRange[] = []
  let valid = 0
  for (const raw of specs) {
    const spec = raw.trim()
    // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
    if (spec === '') continue
    const m = SPEC.exec(spec)
    if (m === null) return IGNORE
    const first = m[1] as string
    const last = m[2] as string
    valid++
    if (first === '') {
      if (last === '') return IGNORE
      // suffix-range: the last N bytes; satisfiable when N > 0.
      const n = toNumber(last)
      if (n === 0) continue
      ranges.push({ start: n >= size ? 0 : size - n, end: size - 1 })
      continue
    }
    const start = toNumber(first)
    const end = last === '' ? Number.POSITIVE_INFINITY : toNumber(last)
    if (end < start) return IGNORE
    if (start >= size) continue
    ranges.push({ start, end: Math.min(end, size - 1) })
  }
  if (valid === 0) return IGNORE
  if (ranges.length === 0) return UNSATISFIABLE
  if (ranges.length === 1) return ranges
  ranges.sort((a, b) => a.start - b.start)
  const merged: ByteRange[] = [ranges[0] as ByteRange]
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i] as ByteRange
    const cur = merged[merged.length - 1] as ByteRange
    if (r.start <= cur.end + 1) {
      if (r.end > cur.end) cur.end = r.end
    } else {
      merged.push(r)
    }
  }
  if (merged.length > maxRanges) return IGNORE
  return merged
}

/** A decimal position; more than 15 digits is beyond any file, so infinity. */
function toNumber(digits: string): number {
  return digits.length > 15 ? Number.POSITIVE_INFINITY : Number(digits)
}
