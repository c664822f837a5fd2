import { failOnUnhandledRejections, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { basic, type FailureInfo, type FailureReason } from '../src/index.js'
import { basicHeader, withServer } from './helpers.js'

failOnUnhandledRejections()

const CHALLENGE = 'Basic realm="admin area", charset="UTF-8"'

describe('basic: users', () => {
  const users = { alice: 'correct horse', Zoë: 'pässwörd', bob: 'a:b::c' }

  it('should accept every configured user, the principal being the user-id', async () => {
    await withServer(basic({ users, realm: 'admin area' }), async ({ url }) => {
      for (const [user, pass] of Object.entries(users)) {
        const res = await fetch(url, { headers: { authorization: basicHeader(user, pass) } })
        expect(res.status).toBe(200)
        expect(await res.json()).toMatchObject({ principal: user, scheme: 'basic' })
      }
    })
  })

  it('should split at the first colon: passwords may contain ":"', async () => {
    await withServer(basic({ users, realm: 'admin area' }), async ({ url }) => {
      const ok = await fetch(url, { headers: { authorization: basicHeader('bob', 'a:b::c') } })
      expect(ok.status).toBe(200)
      const wrong = await fetch(url, { headers: { authorization: basicHeader('bob', 'a:b:c') } })
      expect(wrong.status).toBe(401)
    })
  })

  it('should decode UTF-8 user-ids and passwords, NFC-normalised', async () => {
    await withServer(basic({ users, realm: 'admin area' }), async ({ url }) => {
      // 'Zoë' written decomposed (e + U+0308) is the same user after NFC.
      const decomposed = 'Zoe\u0308'
      const res = await fetch(url, {
        headers: { authorization: basicHeader(decomposed, 'pa\u0308sswo\u0308rd') },
      })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ principal: 'Zoë' })
    })
  })

  it('should accept the scheme name in any case', async () => {
    await withServer(basic({ users }), async ({ url }) => {
      const token = Buffer.from('alice:correct horse').toString('base64')
      for (const scheme of ['basic', 'BASIC', 'bAsIc']) {
        const res = await fetch(url, { headers: { authorization: `${scheme} ${token}` } })
        expect(res.status).toBe(200)
      }
    })
  })

  it('should give the same 401 whether the user or the password is wrong, or nothing sent', async () => {
    await withServer(basic({ users, realm: 'admin area' }), async ({ url }) => {
      const cases = [
        undefined,
        basicHeader('alice', 'wrong'),
        basicHeader('mallory', 'correct horse'),
        basicHeader('alice', ''),
        'Bearer abc',
      ]
      const bodies = new Set<string>()
      for (const authorization of cases) {
        const headers: Record<string, string> = { accept: 'application/json' }
        if (authorization !== undefined) headers.authorization = authorization
        const res = await fetch(url, { headers })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe(CHALLENGE)
        bodies.add(await res.text())
      }
      expect([...bodies]).toEqual([
        JSON.stringify({
          statusCode: 401,
          error: 'Unauthorized',
          message: 'Authentication required',
        }),
      ])
    })
  })

  it('should refuse malformed credentials with a 401 and say why only to onFailure', async () => {
    const seen: [FailureReason, string][] = []
    const auth = basic({
      users,
      onFailure: (reason, _req, info: FailureInfo) => {
        seen.push([reason, info.detail])
      },
    })
    await withServer(auth, async ({ url }) => {
      const bad = [
        'Basic !!!notbase64',
        'Basic YWxpY2U', // unpadded
        `Basic ${Buffer.from('no colon here').toString('base64')}`,
        `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, // invalid UTF-8
        `Basic ${Buffer.from('al\x01ice:correct horse').toString('base64')}`, // control char
        'Basic',
      ]
      for (const authorization of bad) {
        const res = await rawRequest(url, { headers: { authorization } })
        expect(res.status).toBe(401)
        expect(res.headers['www-authenticate']).toBe('Basic realm="Restricted", charset="UTF-8"')
        expect(res.body).toBe('Authentication required\n')
      }
    })
    expect(seen.map(([r]) => r)).toEqual([
      'malformed',
      'malformed',
      'malformed',
      'malformed',
      'malformed',
      'malformed',
    ])
    expect(seen.map(([, d]) => d)).toEqual([
      'the Basic credentials are not valid base64',
      'the Basic credentials are not valid base64',
      'the Basic credentials have no ":" after the user-id',
      'the Basic credentials are not valid UTF-8',
      'the Basic credentials contain control characters',
      'the Basic credentials are not valid base64',
    ])
  })

  it('should report missing vs invalid to onFailure', async () => {
    const seen: FailureReason[] = []
    const auth = basic({ users, onFailure: (reason) => void seen.push(reason) })
    await withServer(auth, async ({ url }) => {
      await fetch(url)
      await fetch(url, { headers: { authorization: basicHeader('alice', 'nope') } })
    })
    expect(seen).toEqual(['missing', 'invalid'])
  })

  it('should omit charset when asked, and escape the realm', async () => {
    await withServer(basic({ users, realm: 'say "hi" \\o/', charset: false }), async ({ url }) => {
      const res = await fetch(url)
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="say \\"hi\\" \\\\o/"')
    })
  })
})

describe('basic: verify', () => {
  it('should pass UTF-8 user-id and password (with colons) to an async verify', async () => {
    const calls: [string, string][] = []
    const auth = basic({
      verify: async (user, password) => {
        calls.push([user, password])
        return user === 'Jürgen' && password === 'x:y' ? { id: 1, user } : false
      },
    })
    await withServer(auth, async ({ url }) => {
      const ok = await fetch(url, { headers: { authorization: basicHeader('Jürgen', 'x:y') } })
      expect(ok.status).toBe(200)
      expect(await ok.json()).toMatchObject({ principal: { id: 1, user: 'Jürgen' } })
      const no = await fetch(url, { headers: { authorization: basicHeader('Jürgen', 'x') } })
      expect(no.status).toBe(401)
    })
    expect(calls).toEqual([
      ['Jürgen', 'x:y'],
      ['Jürgen', 'x'],
    ])
  })

  it('should not call verify for malformed credentials', async () => {
    let called = false
    const auth = basic({
      verify: () => {
        called = true
        return true
      },
    })
    await withServer(auth, async ({ url }) => {
      expect((await fetch(url, { headers: { authorization: 'Basic %%%' } })).status).toBe(401)
    })
    expect(called).toBe(false)
  })

  it('should turn a throwing verify into a 500', async () => {
    const auth = basic({
      verify: () => {
        throw new Error('ldap down')
      },
    })
    await withServer(auth, async ({ url }) => {
      const res = await fetch(url, { headers: { authorization: basicHeader('a', 'b') } })
      expect(res.status).toBe(500)
      expect(await res.text()).toBe('Internal Server Error\n')
    })
  })
})
