/**
 * Accept-Encoding negotiation for precompressed siblings (RFC 9110 §12.5.3).
 */
import { qualityValues } from '@shallot/stack'

/** Parsed Accept-Encoding: coding (lower case) -> q-value, in thousandths. */
type Preferences = Map<string, number>

const cache = new Map<string, Preferences>()
const CACHE_MAX = 128

/** The q-value a coding gets when only the `*` entry speaks for it, if any. */
const STAR = '*'
/** Identity not mentioned at all: acceptable, but below any coding the client named. */
const IMPLICIT = -1

/**
 * Parses `Accept-Encoding` with the stack's `qualityValues` (elements with a malformed
 * q-value left out), in thousandths; `x-gzip` is `gzip` (RFC 9110 §18.6).
 */
export function parseAcceptEncoding(header: string): Preferences {
  let prefs = cache.get(header)
  if (prefs !== undefined) return prefs
  prefs = new Map()
  for (const [value, q] of qualityValues(header)) {
    const coding = value === 'x-gzip' ? 'gzip' : value
    const thousandths = Math.round(q * 1000)
    if (thousandths > (prefs.get(coding) ?? -1)) prefs.set(coding, thousandths)
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
