import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Per-process random key prefixed to every secret before it is hashed to a fixed-length digest.
 * Digests are never stored outside this process and never sent, so they cannot be
 * precomputed by an attacker.
 */
const KEY = randomBytes(32)
const KEY_STRING = KEY.toString('hex')
const KEY_BYTES = Buffer.from(KEY_STRING)

/**
 * SHA-256 of the per-process key followed by `value` (UTF-8 for strings): always 32 bytes.
 * One-shot `crypto.hash` (0.6 µs against 1.7 µs for `createHmac` on a short input, Node 20,
 * micro-benchmark): the digest only has to be fixed-length and unpredictable to an attacker, since it
 * is compared with `timingSafeEqual` and never leaves the process; length extension does not
 * apply to a value that is never revealed. @internal
 */
export function digest(value: string | Uint8Array): Buffer {
  return typeof value === 'string'
    ? (hash('sha256', KEY_STRING + value, 'buffer') as unknown as Buffer)
    : (hash('sha256', Buffer.concat([KEY_BYTES, value]), 'buffer') as unknown as Buffer)
}

/**
 * Compares two secrets in constant time without leaking their lengths: both sides are
 * hashed to 32-byte SHA-256 digests (prefixed with a per-process random key), then compared with
 * `crypto.timingSafeEqual`. Use it in your own `verify` functions.
 *
 * @example
 * ```ts
 * apiKey({ verify: (key) => (safeEqual(key, process.env.API_KEY ?? '') ? 'ci' : false) })
 * ```
 */
export function safeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  return timingSafeEqual(digest(a), digest(b))
}

/**
 * Configured secrets, hashed at start-up (the raw values are not kept), each with the
 * principal it stands for. `find` compares a candidate with every entry, without early
 * exit, so neither which entry matched nor how many there are shows in the timing.
 * @internal
 */
export class SecretTable<P> {
  private readonly digests: Buffer[] = []
  private readonly principals: P[] = []

  /** Adds a secret; false if an equal secret is already there. */
  add(secret: string, principal: P): boolean {
    const d = digest(secret)
    for (const existing of this.digests) if (timingSafeEqual(existing, d)) return false
    this.digests.push(d)
    this.principals.push(principal)
    return true
  }

  get size(): number {
    return this.digests.length
  }

  /** The index of the entry equal to `candidate`, or -1; every entry is compared. */
  indexOf(candidateDigest: Buffer): number {
    let hit = -1
    const { digests } = this
    for (let i = 0; i < digests.length; i++) {
      // Branch-free select: the loop does the same work whether or not entry i matches.
      const eq = timingSafeEqual(candidateDigest, digests[i] as Buffer) ? 1 : 0
      hit = hit + eq * (i - hit)
    }
    return hit
  }

  principalAt(index: number): P {
    return this.principals[index] as P
  }
}
