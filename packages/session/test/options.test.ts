import { describe, expect, it } from 'vitest'
import {
  CookieStore,
  fromExpressStore,
  MemoryStore,
  RedisStore,
  type SessionOptions,
  session,
} from '../src/index.js'
import { SECRET } from './helpers.js'

const bad = (options: unknown, re: RegExp) =>
  expect(() => session(options as SessionOptions)).toThrow(re)
const withSecret = (options: Record<string, unknown>) => ({ secret: SECRET, ...options })

describe('session: start-up validation', () => {
  it('should build with only a secret', () => {
    expect(typeof session({ secret: SECRET })).toBe('function')
    expect(typeof session({ secret: [SECRET, `${SECRET}-old`] })).toBe('function')
  })

  it('should require a secret of at least 32 characters', () => {
    bad(undefined, /options must be an object/)
    bad({}, /\[@shallot\/session\] option "secret" is required/)
    bad(
      { secret: 'short' },
      /option "secret" must be at least 32 characters long \(at index 0: 5\)/
    )
    bad(
      { secret: [] },
      /option "secret" must be a string of at least 32 characters or a non-empty list/
    )
    bad(
      { secret: [SECRET, 'short'] },
      /option "secret" must be at least 32 characters long \(at index 1/
    )
    bad({ secret: [SECRET, 42] }, /option "secret" must hold strings .* number at index 1/)
    bad({ secret: [SECRET, SECRET] }, /option "secret" must not hold the same secret twice/)
    bad({ secret: 42 }, /option "secret"/)
  })

  it('should never echo a secret in an error', () => {
    for (const secret of ['hunter2-secret', ['x'.repeat(40), 'hunter2-secret']]) {
      expect(() => session({ secret })).toThrow(/option "secret"/)
      try {
        session({ secret })
      } catch (err) {
        expect(String(err)).not.toContain('hunter2')
      }
    }
  })

  it("should reject unknown options, with a hint for the peers' names", () => {
    bad(withSecret({ resave: false }), /unknown option "resave" \(not needed: only the keys/)
    bad(withSecret({ proxy: true }), /unknown option "proxy" \(put trustProxy\(\)/)
    bad(withSecret({ maxAge: 1000 }), /unknown option "maxAge" \(use "idleTimeout"/)
    bad(withSecret({ sotre: new MemoryStore() }), /unknown option "sotre" \(known: secret, store/)
    bad(
      withSecret({ cookie: { originalMaxAge: 1 } }),
      /unknown option "cookie.originalMaxAge" \(use "maxAge"\)/
    )
    bad(withSecret({ cookie: { sameSit: 'lax' } }), /unknown option "cookie.sameSit" \(known: path/)
  })

  it('should reject invalid values, naming the option', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: '' }, /option "name" must be a cookie name/],
      [{ name: 'a b' }, /option "name"/],
      [{ name: 'sid;x' }, /option "name"/],
      [{ name: 42 }, /option "name"/],
      [{ store: {} }, /option "store" must be a session store/],
      [
        { store: { get() {}, set() {}, destroy() {}, patch: 1 } },
        /option "store" must be a store whose optional "patch" is a function/,
      ],
      [{ genid: 'x' }, /option "genid" must be a function/],
      [
        { idleTimeout: 0 },
        /option "idleTimeout" must be an integer number of milliseconds from 1000/,
      ],
      [{ idleTimeout: 1.5e3 + 0.5 }, /option "idleTimeout"/],
      [{ idleTimeout: '1h' }, /option "idleTimeout"/],
      [{ absoluteTimeout: 401 * 86_400_000 }, /option "absoluteTimeout" .*400 days/],
      [
        { idleTimeout: 10_000, absoluteTimeout: 5_000 },
        /option "idleTimeout" \(10000\) must not be longer than "absoluteTimeout" \(5000\)/,
      ],
      [{ touchAfter: -1 }, /option "touchAfter"/],
      [
        { idleTimeout: 10_000, touchAfter: 10_000 },
        /option "touchAfter" \(10000\) must be shorter than "idleTimeout"/,
      ],
      [{ rolling: 'yes' }, /option "rolling" must be a boolean/],
      [{ saveUninitialized: 1 }, /option "saveUninitialized" must be a boolean/],
      [
        { onStoreError: 'ignore' },
        /option "onStoreError" must be 'fail', 'continue' or a function/,
      ],
      [{ storeTimeout: 0 }, /option "storeTimeout"/],
      [{ storeTimeout: 60_001 }, /option "storeTimeout"/],
      [{ property: 'a-b' }, /option "property" must be a boolean or a property name/],
      [{ property: 1 }, /option "property"/],
      [{ cookie: 'x' }, /option "cookie" must be an object/],
      [{ cookie: { path: 'x' } }, /option "cookie.path" must be a path starting with "\/"/],
      [{ cookie: { path: '/a;b' } }, /option "cookie.path"/],
      [{ cookie: { path: '/a\nb' } }, /option "cookie.path"/],
      [{ cookie: { domain: 'exa mple.com' } }, /option "cookie.domain" must be a domain name/],
      [{ cookie: { domain: '' } }, /option "cookie.domain"/],
      [{ cookie: { domain: 'x.com;a=b' } }, /option "cookie.domain"/],
      [{ cookie: { secure: 'yes' } }, /option "cookie.secure" must be true, false or 'auto'/],
      [{ cookie: { httpOnly: 'no' } }, /option "cookie.httpOnly" must be a boolean/],
      [
        { cookie: { sameSite: 'Lax' } },
        /option "cookie.sameSite" must be 'lax', 'strict', 'none' or false/,
      ],
      [{ cookie: { sameSite: true } }, /option "cookie.sameSite"/],
      [{ cookie: { partitioned: 'x' } }, /option "cookie.partitioned" must be a boolean/],
      [
        { cookie: { priority: 'urgent' } },
        /option "cookie.priority" must be 'low', 'medium' or 'high'/,
      ],
      [{ cookie: { maxAge: 10 } }, /option "cookie.maxAge" must be 'auto', null, or an integer/],
      [{ cookie: { maxAge: 'session' } }, /option "cookie.maxAge"/],
      [{ cookie: { expires: new Date() } }, /option "cookie.expires" must be a boolean/],
      [
        { cookie: { expires: true, maxAge: null } },
        /option "cookie.expires" needs a cookie lifetime/,
      ],
    ]
    for (const [options, re] of cases) bad(withSecret(options), re)
  })

  it('should check the __Host- and __Secure- prefix rules and the Secure requirements', () => {
    bad(
      withSecret({ name: '__Host-sid', cookie: { secure: false } }),
      /option "cookie.secure" must not be false for a cookie named "__Host-sid"/
    )
    bad(
      withSecret({ name: '__Host-sid', cookie: { path: '/app' } }),
      /option "cookie.path" must be "\/" .*__Host- prefix requires Path=\//
    )
    bad(
      withSecret({ name: '__Host-sid', cookie: { domain: 'example.com' } }),
      /option "cookie.domain" must not be set .*__Host- prefix forbids Domain/
    )
    bad(
      withSecret({ name: '__Secure-sid', cookie: { secure: false } }),
      /the __Secure- prefix requires Secure/
    )
    bad(
      withSecret({ cookie: { sameSite: 'none', secure: false } }),
      /option "cookie.sameSite" 'none' needs "cookie.secure"/
    )
    bad(
      withSecret({ cookie: { partitioned: true, secure: false } }),
      /option "cookie.partitioned" needs "cookie.secure"/
    )
    expect(() => session(withSecret({ name: '__Host-sid' }) as SessionOptions)).not.toThrow()
    expect(() =>
      session(withSecret({ name: '__Host-sid', cookie: { secure: true } }) as SessionOptions)
    ).not.toThrow()
    expect(() =>
      session(
        withSecret({
          name: '__Secure-sid',
          cookie: { path: '/a', domain: 'example.com' },
        }) as SessionOptions
      )
    ).not.toThrow()
    expect(() =>
      session(withSecret({ cookie: { sameSite: 'none', partitioned: true } }) as SessionOptions)
    ).not.toThrow()
  })

  it("should validate the stores' own options", () => {
    expect(() => new MemoryStore({ maxEntries: 0 })).toThrow(
      /MemoryStore: option "maxEntries" must be a positive integer/
    )
    expect(() => new MemoryStore({ max: 5 } as never)).toThrow(/MemoryStore: unknown option "max"/)
    expect(() => new CookieStore({ maxCookieSize: 100 })).toThrow(
      /CookieStore: option "maxCookieSize" must be an integer from 256 to 8192/
    )
    expect(() => new CookieStore({ size: 1 } as never)).toThrow(
      /CookieStore: unknown option "size"/
    )
    expect(() => new RedisStore(undefined as never)).toThrow(
      /RedisStore: options must be an object/
    )
    expect(() => new RedisStore({ client: {} as never })).toThrow(
      /RedisStore: option "client" must be a node-redis client/
    )
    const client = {
      sendCommand: async () => null,
      multi: () => ({ addCommand() {}, exec: async () => [] }),
    }
    expect(() => new RedisStore({ client, prefix: 1 as never })).toThrow(
      /RedisStore: option "prefix" must be a string/
    )
    expect(() => new RedisStore({ client, serializer: {} as never })).toThrow(
      /RedisStore: option "serializer"/
    )
    expect(() => new RedisStore({ client, scanCount: 0 })).toThrow(/RedisStore: option "scanCount"/)
    expect(() => new RedisStore({ client, ttl: 1 } as never)).toThrow(
      /RedisStore: unknown option "ttl"/
    )
    expect(() => fromExpressStore({} as never)).toThrow(
      /fromExpressStore: the store must have get, set and destroy/
    )
  })

  it('should check what genid returns when it is used', async () => {
    const { withServer } = await import('./helpers.js')
    const { rawRequest } = await import('@shallot/test-utils')
    const errors: Error[] = []
    await withServer(
      session({ secret: SECRET, genid: () => 'short' }),
      async ({ url }) => {
        const res = await rawRequest(url, { path: '/' })
        expect(res.status).toBe(500)
        expect(res.headers['set-cookie']).toBeUndefined()
      },
      undefined,
      { onError: (err) => errors.push(err) }
    )
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /genid must return 16 to 128 characters of A-Z a-z 0-9 _ -, got "short"/
      ),
    ])
  })
})
