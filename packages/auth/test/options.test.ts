import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { apiKey, basic, bearer, jwt } from '../src/index.js'

const SECRET = 'a-very-long-shared-secret-of-32+bytes!'
const bad = (fn: () => unknown, re: RegExp) => expect(fn).toThrow(re)

describe('start-up validation', () => {
  it('should reject invalid common options', () => {
    const keys = ['k']
    bad(() => apiKey({ keys, paths: [] }), /\[@shallot\/auth\] option "paths" of apiKey\(\)/)
    bad(() => apiKey({ keys, paths: ['api'] }), /option "paths" .*starting with "\/"/)
    bad(() => apiKey({ keys, paths: ['/a/../b'] }), /option "paths" .*canonical/)
    bad(() => apiKey({ keys, paths: ['//a'] }), /option "paths" .*canonical/)
    bad(() => apiKey({ keys, exclude: ['/a\\b'] }), /option "exclude"/)
    bad(() => apiKey({ keys, paths: '/api' as never }), /option "paths"/)
    bad(() => apiKey({ keys, caseSensitive: 'no' as never }), /option "caseSensitive"/)
    bad(() => apiKey({ keys, onFailure: 'log' as never }), /option "onFailure"/)
    bad(() => apiKey({ keys, skipPreflight: 1 as never }), /option "skipPreflight"/)
    bad(() => apiKey({ keys, cacheControl: 'a\nb' }), /option "cacheControl"/)
    bad(() => apiKey({ keys, realm: 'bad\u0001' }), /option "realm"/)
    bad(() => apiKey({ keys, realm: 'ünïcode' }), /option "realm"/)
    bad(
      () => apiKey({ keys, pahts: ['/x'] } as never),
      /option "pahts" of apiKey\(\) is not a known/
    )
    bad(() => apiKey(undefined as never), /apiKey\(\) takes an options object/)
  })

  it('should reject invalid apiKey options', () => {
    bad(() => apiKey({} as never), /option "keys" of apiKey\(\) or "verify" must be given/)
    bad(
      () => apiKey({ keys: ['a'], verify: () => 'x' } as never),
      /option "keys" of apiKey\(\) or "verify" must be given, not both/
    )
    bad(() => apiKey({ keys: [] }), /option "keys" .*at least one/)
    bad(() => apiKey({ keys: [''] }), /option "keys" .*non-empty strings/)
    bad(() => apiKey({ keys: ['a', 'a'] }), /option "keys" .*same secret twice/)
    bad(() => apiKey({ keys: 'k-123' as never }), /option "keys"/)
    bad(() => apiKey({ keys: { a: false } }), /option "keys" .*principal/)
    bad(() => apiKey({ verify: 'x' as never }), /option "verify" .*function/)
    bad(() => apiKey({ keys: ['a'], header: 'bad header' }), /option "header"/)
    bad(() => apiKey({ keys: ['a'], header: false }), /option "header" .*"query"/)
    bad(() => apiKey({ keys: ['a'], query: '' }), /option "query"/)
  })

  it('should not echo secrets in option errors', () => {
    const messageOf = (fn: () => unknown): string => {
      try {
        fn()
      } catch (err) {
        return String(err)
      }
      throw new Error('did not throw')
    }
    expect(messageOf(() => apiKey({ keys: ['super-secret-1', 'super-secret-1'] }))).not.toContain(
      'super-secret'
    )
    expect(messageOf(() => basic({ users: { alice: 'hunter\u00002' } }))).not.toContain('hunter')
    expect(messageOf(() => jwt({ secret: 'hunter2', algorithms: ['HS256'] }))).not.toContain(
      'hunter'
    )
  })

  it('should reject invalid basic options', () => {
    bad(() => basic({} as never), /option "users" of basic\(\) or "verify"/)
    bad(() => basic({ users: {} }), /option "users" .*at least one/)
    bad(() => basic({ users: { 'a:b': 'x' } }), /option "users" .*":"/)
    bad(() => basic({ users: { a: '' } }), /option "users" .*non-empty password/)
    bad(() => basic({ users: { a: 1 as never } }), /option "users"/)
    bad(() => basic({ users: { 'Zoe\u0308': 'x', Zoë: 'y' } }), /same user-id twice/)
    bad(() => basic({ users: { a: 'b' }, charset: 'latin1' as never }), /option "charset"/)
  })

  it('should reject invalid bearer options', () => {
    bad(() => bearer({} as never), /option "tokens" of bearer\(\)/)
    bad(() => bearer({ tokens: ['t'], scopes: ['a b'] }), /option "scopes"/)
    bad(() => bearer({ tokens: ['t'], scopes: 'read' as never }), /option "scopes"/)
    bad(() => bearer({ tokens: ['t'], maxTokenSize: 0 }), /option "maxTokenSize"/)
    bad(() => bearer({ tokens: ['t'], getScopes: 1 as never }), /option "getScopes"/)
  })

  it('should require an explicit algorithms allowlist for jwt, without none', () => {
    bad(() => jwt({ secret: SECRET } as never), /option "algorithms" of jwt\(\) is required/)
    bad(() => jwt({ secret: SECRET, algorithms: [] }), /option "algorithms" .*required/)
    bad(() => jwt({ secret: SECRET, algorithms: ['none' as never] }), /must not hold "none"/)
    bad(() => jwt({ secret: SECRET, algorithms: ['HS1' as never] }), /option "algorithms"/)
    bad(() => jwt({ secret: SECRET, algorithms: 'HS256' as never }), /option "algorithms"/)
  })

  it('should refuse mixing a symmetric secret with asymmetric algorithms', () => {
    bad(() => jwt({ secret: SECRET, algorithms: ['RS256'] }), /algorithm confusion/)
    bad(() => jwt({ secret: SECRET, algorithms: ['HS256', 'RS256'] }), /must not mix HMAC/)
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    bad(() => jwt({ key: publicKey, algorithms: ['HS256'] }), /rsa key cannot verify/)
    bad(() => jwt({ key: publicKey, algorithms: ['ES256'] }), /rsa key cannot verify/)
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey
    bad(() => jwt({ key: p384, algorithms: ['ES256'] }), /ES256, which a ec key cannot verify/)
    expect(() => jwt({ key: p384, algorithms: ['ES384'] })).not.toThrow()
    const ed = generateKeyPairSync('ed25519').publicKey
    expect(() => jwt({ key: ed, algorithms: ['EdDSA', 'Ed25519'] })).not.toThrow()
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    bad(() => jwt({ jwks: 'https://id.example/jwks', algorithms: ['HS256'] }), /HMAC .*jwks/)
    expect(() => jwt({ key: pem, algorithms: ['RS256', 'PS256'] })).not.toThrow()
  })

  it('should reject other invalid jwt options', () => {
    const algorithms = ['HS256'] as const
    bad(() => jwt({ algorithms } as never), /option "secret" of jwt\(\) or "key" or "jwks"/)
    bad(() => jwt({ secret: SECRET, jwks: 'https://x/', algorithms } as never), /exactly one/)
    bad(() => jwt({ secret: 'short', algorithms }), /at least 32 bytes/)
    bad(() => jwt({ secret: SECRET, algorithms: ['HS512'] }), /at least 64 bytes/)
    bad(() => jwt({ secret: 42 as never, algorithms }), /option "secret"/)
    bad(() => jwt({ key: 'not a pem', algorithms: ['RS256'] }), /option "key" .*could not be read/)
    bad(() => jwt({ secret: SECRET, algorithms, issuer: '' }), /option "issuer"/)
    bad(() => jwt({ secret: SECRET, algorithms, audience: [1] as never }), /option "audience"/)
    bad(() => jwt({ secret: SECRET, algorithms, clockTolerance: -1 }), /option "clockTolerance"/)
    bad(() => jwt({ secret: SECRET, algorithms, clockTolerance: '30s' as never }), /clockTolerance/)
    bad(() => jwt({ secret: SECRET, algorithms, typ: '' }), /option "typ"/)
    bad(() => jwt({ secret: SECRET, algorithms, requiredClaims: 'exp' as never }), /requiredClaims/)
    bad(() => jwt({ secret: SECRET, algorithms, maxTokenSize: 1.5 }), /maxTokenSize/)
    bad(() => jwt({ jwks: 'not a url', algorithms: ['RS256'] }), /option "jwks" .*absolute URL/)
    bad(() => jwt({ jwks: 'http://id.example/jwks', algorithms: ['RS256'] }), /https/)
    bad(() => jwt({ jwks: 'ftp://127.0.0.1/jwks', algorithms: ['RS256'] }), /https/)
    bad(
      () =>
        jwt({ jwks: 'https://x/', algorithms: ['RS256'], jwksOptions: { cooldown: 1 } as never }),
      /option "jwksOptions" .*unknown field "cooldown"/
    )
    bad(
      () => jwt({ jwks: 'https://x/', algorithms: ['RS256'], jwksOptions: { cacheMaxAge: -1 } }),
      /jwksOptions/
    )
    expect(() => jwt({ jwks: 'http://127.0.0.1:9/jwks', algorithms: ['RS256'] })).not.toThrow()
    expect(() => jwt({ jwks: 'http://localhost:9/jwks', algorithms: ['ES256'] })).not.toThrow()
  })
})
