/**
 * `Accept-Encoding` negotiation (RFC 9110 §12.5.3), with the server's order for ties.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
 */
import { qualityValues } from '@shallot/stack'

/** A content coding this package can produce. */
export type CompressionEncoding = 'br' | 'gzip' | 'deflate'

/** Every coding we can produce, in the default server order. */
export const ENCODINGS: readonly CompressionEncoding[] = ['br', 'gzip', 'deflate']

/** What one `Accept-Encoding` header says; -1 means "not listed". */
interface Weights {
  br: number
  gzip: number
  deflate: number
  identity: number
  star: number
}

/**
 * The weights of `header`, read by the stack's `qualityValues` (an entry with a malformed
 * `q` is left out, so a garbled header never makes us send something the client did not
 * ask for). `x-gzip` counts as `gzip` (RFC 9110 §8.4.1.3).
 */
function weigh(header: string): Weights {
  const w: Weights = { br: -1, gzip: -1, deflate: -1, identity: -1, star: -1 }
  for (const [value, q] of qualityValues(header)) {
    const coding = value === 'x-gzip' ? 'gzip' : value
    if (coding === '*') w.star = q
    else if (
      coding === 'br' ||
      coding === 'gzip' ||
      coding === 'deflate' ||
      coding === 'identity'
    ) {
      if (q > w[coding]) w[coding] = q
    }
  }
  return w
}

/**
 * The coding to answer with, or `undefined` for identity (no compression).
 *
 * - The highest `q` above 0 among `encodings` wins; equal `q`s go to the first in
 *   `encodings` (the server's preference).
 * - `*` gives its `q` to the codings not named. When a coding would win only through `*`,
 *   gzip is chosen if enabled (a client that names no coding decodes gzip more surely than
 *   br), as Fastify and Hono do.
 * - `identity` named with a higher `q` than the best coding wins: no compression.
 * - No header, an empty header, or nothing acceptable: identity. Even when identity is
 *   refused (`identity;q=0`), we answer uncompressed rather than 406, as RFC 9110 allows
 *   and every peer does.
 */
export function negotiate(
  header: string | string[] | undefined,
  encodings: readonly CompressionEncoding[]
): CompressionEncoding | undefined {
  if (header === undefined) return undefined
  const w = weigh(Array.isArray(header) ? header.join(',') : header)
  let best: CompressionEncoding | undefined
  let bestQ = 0
  for (const enc of encodings) {
    const q = w[enc]
    if (q > bestQ) {
      best = enc
      bestQ = q
    }
  }
  if (w.star > bestQ) {
    // Only the wildcard makes a coding win: the codings not named, gzip first.
    const unnamed = encodings.filter((enc) => w[enc] === -1)
    const pick = unnamed.includes('gzip') ? 'gzip' : unnamed[0]
    if (pick !== undefined) {
      best = pick
      bestQ = w.star
    }
  }
  if (best === undefined) return undefined
  if (w.identity > bestQ) return undefined
  return best
}
