import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto'

/** Session ids: what `genid` must return, and what a signed cookie may carry. */
export const ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{16,128}$/
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/
const BASE64URL = /^[A-Za-z0-9_-]+$/

// Random bytes are drawn in blocks: one randomFillSync per 256 ids instead of one per id.
const POOL = Buffer.allocUnsafe(24 * 256)
let poolOffset = POOL.length

function randomSlice(size: number): Buffer {
  if (poolOffset + size > POOL.length) {
    randomFillSync(POOL)
    poolOffset = 0
  }
  const out = POOL.subarray(poolOffset, poolOffset + size)
  poolOffset += size
  return out
}

/** The default `genid`: 24 random bytes (192 bits) from the OS CSPRNG, base64url (32 characters). */
export function randomId(): string {
  return randomSlice(24).toString('base64url')
}

/**
 * Signs session ids with HMAC-SHA256: the cookie carries `<id>.<base64url signature>`.
 * Signs with the first secret and accepts any, for rotation.
 */
export class Signer {
  private readonly keys: Buffer[]

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((s) => Buffer.from(s, 'utf8'))
  }

  sign(id: string): string {
    return `${id}.${createHmac('sha256', this.keys[0] as Buffer)
      .update(id)
      .digest('base64url')}`
  }

  /**
   * The index of the secret that signed `value` (0 is the current one), or -1 when it is not
   * a well-formed value signed by any of them. Digests are compared in constant time.
   */
  verify(value: string): number {
    const dot = value.lastIndexOf('.')
    if (dot === -1 || value.length - dot - 1 !== 43) return -1
    const id = value.slice(0, dot)
    const signature = value.slice(dot + 1)
    if (!ID_PATTERN.test(id) || !SIGNATURE.test(signature)) return -1
    const given = Buffer.from(signature, 'base64url')
    if (given.length !== 32) return -1
    const keys = this.keys
    for (let i = 0; i < keys.length; i++) {
      const expected = createHmac('sha256', keys[i] as Buffer)
        .update(id)
        .digest()
      if (timingSafeEqual(expected, given)) return i
    }
    return -1
  }
}

const SEAL_VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * Seals text with AES-256-GCM for the sealed-cookie store. One key per secret, derived with
 * HKDF-SHA256; a random 96-bit IV per seal; the cookie name is authenticated as associated
 * data, so a value sealed for one cookie does not open as another. Seals with the first key,
 * opens with any (rotation). Layout before base64url: version (1 byte), IV, ciphertext, tag.
 */
export class Sealer {
  private readonly keys: Buffer[]
  private readonly aad: Buffer

  constructor(secrets: readonly string[], cookieName: string) {
    this.keys = secrets.map((s) =>
      Buffer.from(hkdfSync('sha256', s, '@shallot/session', 'sealed cookie v1', 32))
    )
    this.aad = Buffer.from(cookieName, 'utf8')
  }

  seal(text: string): string {
    const iv = randomSlice(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.keys[0] as Buffer, iv)
    cipher.setAAD(this.aad)
    const body = Buffer.concat([
      Buffer.of(SEAL_VERSION),
      iv,
      cipher.update(text, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ])
    return body.toString('base64url')
  }

  /** The text and the index of the key that opened it, or undefined for anything else. */
  open(value: string): { text: string; key: number } | undefined {
    if (!BASE64URL.test(value)) return undefined
    const body = Buffer.from(value, 'base64url')
    if (body.length < 1 + IV_BYTES + TAG_BYTES || body[0] !== SEAL_VERSION) return undefined
    const iv = body.subarray(1, 1 + IV_BYTES)
    const tag = body.subarray(body.length - TAG_BYTES)
    const data = body.subarray(1 + IV_BYTES, body.length - TAG_BYTES)
    const keys = this.keys
    for (let i = 0; i < keys.length; i++) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', keys[i] as Buffer, iv)
        decipher.setAAD(this.aad)
        decipher.setAuthTag(tag)
        const text = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8')
        return { text, key: i }
      } catch {
        // not this key (or tampered): try the next one
      }
    }
    return undefined
  }
}
