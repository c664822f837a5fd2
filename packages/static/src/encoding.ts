/**
 * Accept-Encoding negotiation for precompressed siblings (RFC 9110 §12.5.3).
 */

/** Parsed Accept-Encoding: coding (lower case) -> q-value, in thousandths. */
type Preferences = Map<string, number>

const cache = new Map<string, Preferences>()
const CACHE_MAX = 128

/** The q-value a coding gets when only the `*` entry speaks for it, if any. */
const STAR = '*'
/** Identity not mentioned at all: acceptable, but below any coding the client named. */
const IMPLICIT = -1

/**
 * Parses `Accept-Encoding`. Elements with an invalid q-value are dropped; `x-gzip` is
 * `gzip` (RFC 9110 §18.6). The first occurrence of a coding wins.
 */
export function parseAcceptEncoding(header: string): Preferences {
  let prefs = cache.get(header)
  if (prefs !== undefined) return prefs
  prefs = new Map()
  const parts = header.split(',')
  for (let i = 0; i < parts.length && i < 64; i++) {
    const params = (parts[i] as string).split(';')
    let coding = (params[0] as string).trim().toLowerCase()
    if (coding === '') continue
    if (coding === 'x-gzip') coding = 'gzip'
    let q = 1000
    let ok = true
    for (let j = 1; j < params.length; j++) {
      const p = (params[j] as string).trim()
      const m = /^q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/i.exec(p)
      if (m === null) {
        if (/^q\s*=/i.test(p)) ok = false
        continue
      }
      q = Math.round(Number(m[1]) * 1000)
    }
    if (ok && !prefs.has(coding)) prefs.set(coding, q)
  }
  if (cache.size >= CACHE_MAX) cache.clear()
  cache.set(header, prefs)
  return prefs
}

/** Index into `available` of the coding to send, -1 for identity, -2 for none acceptable (406). */
export const IDENTITY = -1
export const NONE = -2

/**
 * Chooses among the available codings (server preference order) and identity: the highest
 * q-value wins, ties go to the earlier coding in `available`, and identity wins only when
 * the client gave it a strictly higher q-value than every coding it accepts. Without an
 * `Accept-Encoding` header, identity (a client that says nothing, such as curl, gets the
 * file as it is on disk).
 */
export function negotiate(header: string | undefined, available: readonly string[]): number {
  if (header === undefined) return IDENTITY
  const prefs = parseAcceptEncoding(header)
  const star = prefs.get(STAR)
  let best = NONE
  let bestQ = 0
  for (let i = 0; i < available.length; i++) {
    const q = prefs.get(available[i] as string) ?? star ?? 0
    if (q > bestQ) {
      best = i
      bestQ = q
    }
  }
  const identity = prefs.get('identity') ?? star ?? IMPLICIT
  if (best !== NONE && bestQ >= identity) return best
  return identity === IMPLICIT || identity > 0 ? IDENTITY : NONE
}
