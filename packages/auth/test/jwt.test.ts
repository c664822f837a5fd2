import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { Handler } from '@shallot/stack'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import { exportJWK, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { type FailureInfo, type FailureReason, jwt } from '../src/index.js'
import { withServer } from './helpers.js'

failOnUnhandledRejections()

const SECRET = 'a-very-long-shared-secret-of-32+bytes!'
const now = () => Math.floor(Date.now() / 1000)

function sign(
  payload: JWTPayload,
  key: KeyObject | Uint8Array,
  alg = 'HS256',
  kid?: string
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
    .setIssuedAt()
    .sign(key)
}
const hs = (payload: JWTPayload) => sign(payload, new TextEncoder().encode(SECRET))
const bearerOf = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

function recorder() {
  const seen: [FailureReason, FailureInfo][] = []
  return {
    seen,
    onFailure: (r: FailureReason, _req: unknown, i: FailureInfo) => void seen.push([r, i]),
  }
}

describe('jwt: secret (HS256)', () => {
  it('should accept a valid token and expose its payload as the principal', async () => {
    await withServer(jwt({ secret: SECRET, algorithms: ['HS256'] }), async ({ url }) => {
      const token = await hs({ sub: 'u1', exp: now() + 60 })
      const res = await fetch(url, bearerOf(token))
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ principal: { sub: 'u1' }, scheme: 'jwt' })
    })
  })

  it('should refuse an expired token, unless within clockTolerance', async () => {
    const token = await hs({ sub: 'u1', exp: now() - 30 })
    const r = recorder()
    await withServer(
      jwt({ secret: SECRET, algorithms: ['HS256'], onFailure: r.onFailure }),
      async ({ url }) => {
        const res = await fetch(url, bearerOf(token))
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe(
          'Bearer realm="Restricted", error="invalid_token", error_description="The access token is invalid"'
        )
        expect(await res.text()).toBe('Authentication required\n')
      }
    )
    expect(r.seen[0]?.[0]).toBe('expired')
    expect(r.seen[0]?.[1].detail).toMatch(/exp/)
    await withServer(
      jwt({ secret: SECRET, algorithms: ['HS256'], clockTolerance: 120 }),
      async ({ url }) => {
        expect((await fetch(url, bearerOf(token))).status).toBe(200)
      }
    )
  })

  it('should check issuer and audience', async () => {
    const auth = jwt({
      secret: SECRET,
      algorithms: ['HS256'],
      issuer: 'https://id.example',
      audience: ['api', 'api2'],
    })
    await withServer(auth, async ({ url }) => {
      const exp = now() + 60
      const good = await hs({ iss: 'https://id.example', aud: 'api2', exp })
      expect((await fetch(url, bearerOf(good))).status).toBe(200)
      for (const payload of [
        { iss: 'https://evil.example', aud: 'api', exp },
        { iss: 'https://id.example', aud: 'other', exp },
        { aud: 'api', exp },
        { iss: 'https://id.example', exp },
      ]) {
        const res = await fetch(url, bearerOf(await hs(payload)))
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
      }
    })
  })

  it('should require exp by default, and not when requiredClaims is []', async () => {
    const token = await hs({ sub: 'u1' })
    await withServer(jwt({ secret: SECRET, algorithms: ['HS256'] }), async ({ url }) => {
      expect((await fetch(url, bearerOf(token))).status).toBe(401)
    })
    await withServer(
      jwt({ secret: SECRET, algorithms: ['HS256'], requiredClaims: [] }),
      async ({ url }) => {
        expect((await fetch(url, bearerOf(token))).status).toBe(200)
      }
    )
  })

  it('should refuse a bad signature, an unsigned token and a malformed one', async () => {
    const r = recorder()
    await withServer(
      jwt({ secret: SECRET, algorithms: ['HS256'], onFailure: r.onFailure }),
      async ({ url }) => {
        const other = await sign(
          { exp: now() + 60 },
          new TextEncoder().encode('another-secret-another-secret-12345')
        )
        const none = new UnsecuredJWT({ exp: now() + 60 }).encode()
        for (const token of [other, none, 'abc.def.ghi']) {
          const res = await fetch(url, bearerOf(token))
          expect(res.status).toBe(401)
          expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
        }
      }
    )
    expect(r.seen.map(([reason]) => reason)).toEqual(['invalid', 'invalid', 'malformed'])
  })

  it('should accept only the Bearer scheme', async () => {
    const r = recorder()
    await withServer(
      jwt({ secret: SECRET, algorithms: ['HS256'], onFailure: r.onFailure }),
      async ({ url }) => {
        const token = await hs({ exp: now() + 60 })
        for (const scheme of ['JWT', 'Token', 'Basic', 'Bearer,']) {
          const res = await fetch(url, { headers: { authorization: `${scheme} ${token}` } })
          expect(res.status).toBe(401)
          expect(res.headers.get('www-authenticate')).toBe('Bearer realm="Restricted"')
        }
        // The token alone, without a scheme, is not accepted either.
        expect((await fetch(url, { headers: { authorization: token } })).status).toBe(401)
      }
    )
    expect(new Set(r.seen.map(([reason]) => reason))).toEqual(new Set(['missing']))
  })

  it('should cap the token size (default 8 KiB)', async () => {
    const r = recorder()
    await withServer(
      jwt({ secret: SECRET, algorithms: ['HS256'], onFailure: r.onFailure }),
      async ({ url }) => {
        const big = await hs({ exp: now() + 60, pad: 'x'.repeat(9000) })
        expect(big.length).toBeGreaterThan(8192)
        const res = await fetch(url, bearerOf(big))
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
      }
    )
    expect(r.seen[0]?.[0]).toBe('oversized')
  })

  it('should enforce scopes from the scope claim with 403', async () => {
    const auth = jwt({ secret: SECRET, algorithms: ['HS256'], scopes: ['orders:write'] })
    await withServer(auth, async ({ url }) => {
      const ok = await hs({ exp: now() + 60, scope: 'orders:read orders:write' })
      expect((await fetch(url, bearerOf(ok))).status).toBe(200)
      const res = await fetch(url, bearerOf(await hs({ exp: now() + 60, scope: 'orders:read' })))
      expect(res.status).toBe(403)
      expect(res.headers.get('www-authenticate')).toContain(
        'error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token", scope="orders:write"'
      )
    })
  })
})

describe('jwt: public keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })

  it('should accept RS256 with a KeyObject, a PEM string or a JWK', async () => {
    const token = await sign({ sub: 'k', exp: now() + 60 }, rsa.privateKey, 'RS256')
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const jwk = rsa.publicKey.export({ format: 'jwk' })
    for (const key of [rsa.publicKey, pem, jwk, rsa.privateKey]) {
      await withServer(jwt({ key, algorithms: ['RS256'] }), async ({ url }) => {
        expect((await fetch(url, bearerOf(token))).status).toBe(200)
      })
    }
  })

  it('should refuse alg confusion: an HS256 token signed with the public key', async () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const forged = await sign({ sub: 'admin', exp: now() + 60 }, Buffer.from(pem), 'HS256')
    const r = recorder()
    await withServer(
      jwt({ key: pem, algorithms: ['RS256'], onFailure: r.onFailure }),
      async ({ url }) => {
        const res = await fetch(url, bearerOf(forged))
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
      }
    )
    expect(r.seen[0]?.[0]).toBe('invalid')
    expect(r.seen[0]?.[1].detail).toMatch(/alg/i)
  })
})

describe('jwt: JWKS', () => {
  const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })

  async function jwkOf(key: KeyObject, kid: string, alg: string) {
    return { ...(await exportJWK(key)), kid, alg, use: 'sig' }
  }

  it('should fetch the key set once, refresh on an unknown kid, and refuse unexpected algs', async () => {
    const keys = [
      await jwkOf(k1.publicKey, 'k1', 'RS256'),
      await jwkOf(ec.publicKey, 'e1', 'ES256'),
    ]
    let fetches = 0
    const jwksServer: Handler = (_req, res) => {
      fetches++
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ keys }))
    }
    const idp = await listen(jwksServer)
    const r = recorder()
    try {
      const auth = jwt({
        jwks: `${idp.url}/.well-known/jwks.json`,
        algorithms: ['RS256'],
        jwksOptions: { cooldownDuration: 0 },
        onFailure: r.onFailure,
      })
      await withServer(auth, async ({ url }) => {
        const t1 = await sign({ sub: 'one', exp: now() + 60 }, k1.privateKey, 'RS256', 'k1')
        expect((await fetch(url, bearerOf(t1))).status).toBe(200)
        expect((await fetch(url, bearerOf(t1))).status).toBe(200)
        expect(fetches).toBe(1) // cached

        // The identity provider rotates in k2; a token naming it triggers one refresh.
        keys.push(await jwkOf(k2.publicKey, 'k2', 'RS256'))
        const t2 = await sign({ sub: 'two', exp: now() + 60 }, k2.privateKey, 'RS256', 'k2')
        const res = await fetch(url, bearerOf(t2))
        expect(res.status).toBe(200)
        expect(await res.json()).toMatchObject({ principal: { sub: 'two' } })
        expect(fetches).toBe(2)

        // A kid nobody knows: refreshed again, still unknown, refused.
        const t3 = await sign({ sub: 'x', exp: now() + 60 }, k1.privateKey, 'RS256', 'nope')
        expect((await fetch(url, bearerOf(t3))).status).toBe(401)

        // ES256 with a key the set does hold, but not in the allowlist: refused.
        const tEc = await sign({ sub: 'ec', exp: now() + 60 }, ec.privateKey, 'ES256', 'e1')
        const refused = await fetch(url, bearerOf(tEc))
        expect(refused.status).toBe(401)
        expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"')
      })
    } finally {
      await idp.close()
    }
    expect(r.seen.map(([reason]) => reason)).toEqual(['invalid', 'invalid'])
    expect(r.seen[1]?.[1].detail).toMatch(/alg/i)
  })

  it('should not refetch on an unknown kid within the cooldown', async () => {
    let fetches = 0
    const keys = [await jwkOf(k1.publicKey, 'k1', 'RS256')]
    const idp = await listen((_req, res) => {
      fetches++
      res.end(JSON.stringify({ keys }))
    })
    try {
      const auth = jwt({ jwks: new URL(idp.url), algorithms: ['RS256'] })
      await withServer(auth, async ({ url }) => {
        const t1 = await sign({ exp: now() + 60 }, k1.privateKey, 'RS256', 'k1')
        const t3 = await sign({ exp: now() + 60 }, k1.privateKey, 'RS256', 'nope')
        expect((await fetch(url, bearerOf(t1))).status).toBe(200)
        for (let i = 0; i < 3; i++) expect((await fetch(url, bearerOf(t3))).status).toBe(401)
        expect(fetches).toBe(1)
      })
    } finally {
      await idp.close()
    }
  })

  it('should answer 503 when the key set cannot be fetched', async () => {
    const idp = await listen((_req, res) => {
      res.statusCode = 500
      res.end('oops')
    })
    const errors: Error[] = []
    try {
      const auth = jwt({ jwks: idp.url, algorithms: ['RS256'] })
      await withServer(
        auth,
        async ({ url }) => {
          const t1 = await sign({ exp: now() + 60 }, k1.privateKey, 'RS256', 'k1')
          const res = await fetch(url, bearerOf(t1))
          expect(res.status).toBe(503)
          expect(res.headers.get('www-authenticate')).toBeNull()
        },
        undefined,
        { onError: (e) => errors.push(e) }
      )
    } finally {
      await idp.close()
    }
    expect(errors).toHaveLength(1)
  })
})
