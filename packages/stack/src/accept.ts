// RFC 9110 §12.4.2: `weight = OWS ";" OWS "q=" qvalue`,
// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
const QVALUE = /^\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/i
const Q_PARAM = /^\s*q\s*=/i

/** Headers parsed lately, by raw value: clients repeat the same few. Bounded. */
const cache = new Map<string, ReadonlyMap<string, number>>()
const CACHE_MAX = 256
const CACHE_MAX_LENGTH = 512
/** Elements read at most: a longer list is cut, never a cost the client controls. */
const MAX_ELEMENTS = 64

/**
 * The q-values of a comma-separated `Accept`, `Accept-Encoding`, `Accept-Language` or
 * `TE` header (RFC 9110 §12.4.2): each element's value (the part before any `;`, trimmed and
 * lower-cased: `text/html`, `gzip`, `*`) mapped to its q-value from 0 to 1 (1 when absent).
 * An element with a malformed q-value is left out, so a garbled header never gets anything
 * it did not ask for; when a value is listed twice, the higher q-value counts. The map is
 * shared between calls with the same header: read it, do not change it.
 */
export function qualityValues(header: string): ReadonlyMap<string, number> {
  const cached = cache.get(header)
  if (cached !== undefined) return cached
  const out = new Map<string, number>()
  const parts = header.split(',')
  for (let i = 0; i < parts.length && i < MAX_ELEMENTS; i++) {
    const part = parts[i] as string
    const semi = part.indexOf(';')
    const value = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase()
    if (value === '') continue
    let q = 1
    let bad = false
    if (semi !== -1) {
      for (const param of part.slice(semi + 1).split(';')) {
        if (!Q_PARAM.test(param)) continue
        const m = QVALUE.exec(param)
        if (m === null) bad = true
        else q = Number(m[1])
      }
    }
    if (bad) continue
    const seen = out.get(value)
    if (seen === undefined || q > seen) out.set(value, q)
  }
  if (header.length <= CACHE_MAX_LENGTH) {
    if (cache.size >= CACHE_MAX) cache.clear()
    cache.set(header, out)
  }
  return out
}
