import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { randomId, Signer } from '../src/crypto.js'

const reference = (secret: string, id: string): string =>
  `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`

describe('Signer', () => {
  it("should sign exactly as createHmac('sha256') does, for short, long and non-ASCII secrets", () => {
    const secrets = [
      'x'.repeat(32),
      's'.repeat(64), // one block exactly
      'a much longer secret than the sixty-four bytes of a SHA-256 block, so it is hashed first',
      'ünïcödé secret with more than thirty-two characters ✓',
    ]
    const ids = [randomId(), 'a'.repeat(16), 'Z'.repeat(128), 'abc-DEF_0123456789']
    for (let i = 0; i < 200; i++) ids.push(randomId())
    for (const secret of secrets) {
      const signer = new Signer([secret])
      for (const id of ids) {
        const signed = signer.sign(id)
        expect(signed).toBe(reference(secret, id))
        expect(signer.verify(signed)).toBe(0)
      }
    }
  })

  it('should fall back to createHmac for ids a custom genid may return before they are checked', () => {
    const signer = new Signer(['x'.repeat(32)])
    for (const id of ['ü'.repeat(20), 'a'.repeat(129), 'with space and more']) {
      expect(signer.sign(id)).toBe(reference('x'.repeat(32), id))
    }
  })

  it('should accept any secret of the list (rotation), and say which', () => {
    const old = new Signer(['o'.repeat(32)])
    const rotated = new Signer(['n'.repeat(32), 'o'.repeat(32)])
    const id = randomId()
    expect(rotated.verify(old.sign(id))).toBe(1)
    expect(rotated.verify(rotated.sign(id))).toBe(0)
    expect(old.verify(rotated.sign(id))).toBe(-1)
  })

  it('should refuse tampered, truncated, non-canonical and malformed values', () => {
    const signer = new Signer(['x'.repeat(32)])
    const id = randomId()
    const signed = signer.sign(id)
    const signature = signed.slice(signed.lastIndexOf('.') + 1)
    const flip = (s: string, at: number): string =>
      s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1)
    // The last character of 43 carries 4 bits and 2 zero padding bits: one with the same
    // 4 bits but padding set decodes to the same 32 bytes, and is refused all the same.
    const last = signature.charCodeAt(42)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const sloppy = alphabet[(alphabet.indexOf(String.fromCharCode(last)) & ~3) | 1] as string
    for (const bad of [
      flip(signed, 0),
      flip(signed, signed.length - 1),
      flip(signed, signed.lastIndexOf('.') + 20),
      signed.slice(0, -1),
      `${signed}A`,
      `${id}.${signature.slice(0, 42)}${sloppy}`,
      id,
      `${id}.`,
      `.${signature}`,
      `short.${signature}`,
      `${'a'.repeat(129)}.${signature}`,
      `${id}.${'='.repeat(43)}`,
      '',
    ]) {
      expect(signer.verify(bad), bad).toBe(-1)
    }
  })
})
