import { listen, rawRequest } from '@shallot/test-utils'
import express from 'express'
import { describe, expect, it } from 'vitest'
import {
  beforePathCheck,
  getBasePath,
  getError,
  getOriginalUrl,
  getPath,
  type Handler,
  HttpError,
  type Middleware,
  mount,
  onFinished,
  pathMatcher,
  stack,
} from '../src/index.js'
import { canonicalize } from '../src/path.js'

describe('canonical path', () => {
  const good: [string, string, string][] = [
    // raw, decoded, encoded
    ['/', '/', '/'],
    ['/api/users', '/api/users', '/api/users'],
    ['/api/', '/api/', '/api/'],
    ['//api', '/api', '/api'],
    ['/a//b///c', '/a/b/c', '/a/b/c'],
    ['/./api', '/api', '/api'],
    ['/x/../api', '/api', '/api'],
    ['/x/%2e%2E/api', '/api', '/api'],
    ['/api/.', '/api/', '/api/'],
    ['/api/..', '/', '/'],
    ['/%61pi', '/api', '/api'],
    ['/a%20b', '/a b', '/a%20b'],
    ['/caf%c3%a9', '/café', '/caf%C3%A9'],
    ['/%F0%9F%A7%85', '/🧅', '/%F0%9F%A7%85'],
    ['/a%3Fb%23c%25', '/a?b#c%', '/a%3Fb%23c%25'],
    ['/api;x', '/api;x', '/api;x'],
    ['/.well-known/x', '/.well-known/x', '/.well-known/x'],
    ['/a|b^c', '/a|b^c', '/a|b^c'],
    ['/a%7Cb', '/a|b', '/a|b'],
  ]
  for (const [raw, decoded, encoded] of good) {
    it(`should canonicalise ${raw} to ${decoded}`, () => {
      expect(canonicalize(raw)).toEqual({ decoded, encoded })
    })
  }

  const bad: [string, RegExp][] = [
    ['/%00', /control character/],
    ['/a%0d%0aSet-Cookie:x', /control character/],
    ['/%zz', /invalid percent-encoding/],
    ['/%2', /invalid percent-encoding/],
    ['/%c3', /invalid UTF-8/],
    ['/%ff', /invalid UTF-8/],
    ['/%c0%ae%c0%ae/etc', /invalid UTF-8/],
    ['/a%2Fb', /encoded "\/"/],
    ['/a%5cb', /encoded "\\"/],
    ['/a\\..\\b', /"\\" in path/],
    ['/..', /climbs above the root/],
    ['/../etc/passwd', /climbs above the root/],
    ['/%2e%2e/etc/passwd', /climbs above the root/],
    ['/a/../../etc', /climbs above the root/],
    ['api', /must start with/],
  ]
  for (const [raw, why] of bad) {
    it(`should refuse ${raw}`, () => {
      expect(canonicalize(raw)).toMatch(why)
    })
  }
})

describe('canonical path on the wire', () => {
  const echo: Handler = (req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ path: getPath(req), url: req.url, original: getOriginalUrl(req) }))
  }

  it('should rewrite req.url to the canonical form, keep the query and the original URL', async () => {
    const server = await listen(stack((next) => next)(echo))
    try {
      const res = await rawRequest(server.url, { path: '//x/./%61b/../c?q=%2F..&r=1' })
      expect(JSON.parse(res.body)).toEqual({
        path: '/x/c',
        url: '/x/c?q=%2F..&r=1',
        original: '//x/./%61b/../c?q=%2F..&r=1',
      })
    } finally {
      await server.close()
    }
  })

  it('should accept absolute-form targets and OPTIONS *', async () => {
    const server = await listen(stack((next) => next)(echo))
    try {
      const abs = await rawRequest(server.url, { path: 'http://example.com/a/../b?x=1' })
      expect(JSON.parse(abs.body)).toMatchObject({ path: '/b', url: '/b?x=1' })
      const star = await rawRequest(server.url, { method: 'OPTIONS', path: '*' })
      expect(JSON.parse(star.body)).toMatchObject({ path: '*' })
    } finally {
      await server.close()
    }
  })

  it('should answer 400 before any layer runs for a path it refuses, and tell onError', async () => {
    let layerRan = false
    const errors: Error[] = []
    const spy: Middleware = (next) => (req, res) => {
      layerRan = true
      return next(req, res)
    }
    const server = await listen(stack({ onError: (e) => errors.push(e) }, spy)(echo))
    try {
      for (const path of ['/%00', '/a%2fb', '/%2e%2e/x', '/%c3%28', '/a\\b']) {
        const res = await rawRequest(server.url, { path })
        expect(res.status, path).toBe(400)
        expect(res.body).toMatch(/^Bad Request: /)
      }
      expect(layerRan).toBe(false)
      expect(errors).toHaveLength(5)
      expect(errors[0]).toBeInstanceOf(HttpError)
    } finally {
      await server.close()
    }
  })
})

describe('beforePathCheck', () => {
  /** A layer recording what it saw when each exchange ended. */
  function recorder(seen: string[]): Middleware {
    return (next) => (req, res) => {
      onFinished(res, () => {
        seen.push(`${getOriginalUrl(req)} ${res.statusCode} ${getError(req)?.message ?? '-'}`)
      })
      return next(req, res)
    }
  }

  it('should let leading marked layers see the requests the stack refuses, and the 400', async () => {
    const early: string[] = []
    const late: string[] = []
    const app = stack(
      beforePathCheck(recorder(early)),
      recorder(late),
      beforePathCheck(recorder(late)) // not leading: runs after the check
    )((req, res) => {
      res.end(getPath(req))
    })
    const server = await listen(app)
    try {
      const bad = await rawRequest(server.url, { path: '/a/%2e%2e/%2e%2e/x' })
      expect(bad.status).toBe(400)
      const ok = await rawRequest(server.url, { path: '/a/./b' })
      expect([ok.status, ok.body]).toEqual([200, '/a/b'])
      await expect.poll(() => early.length).toBe(2)
      expect(early[0]).toMatch(/^\/a\/%2e%2e\/%2e%2e\/x 400 /)
      expect(early[0]).not.toMatch(/ -$/)
      expect(early[1]).toBe('/a/./b 200 -')
      // the others never saw the refused request
      expect(late).toEqual(['/a/./b 200 -', '/a/./b 200 -'])
    } finally {
      await server.close()
    }
  })

  it('should refuse a bad path before any layer when no layer is marked', async () => {
    const seen: string[] = []
    const server = await listen(stack(recorder(seen))((_req, res) => void res.end('x')))
    try {
      expect((await rawRequest(server.url, { path: '/%00' })).status).toBe(400)
      expect((await rawRequest(server.url, { path: '/' })).status).toBe(200)
      await expect.poll(() => seen.length).toBe(1)
      expect(seen).toEqual(['/ 200 -'])
    } finally {
      await server.close()
    }
  })

  it('should refuse what is not a middleware', () => {
    expect(() => beforePathCheck('x' as unknown as Middleware)).toThrow(/must be a function/)
  })
})

describe('mount', () => {
  it('should match on segments: /api and /api/x, not /apix', async () => {
    const hits: string[] = []
    const app = stack(
      mount('/api', (next) => (req, res) => {
        hits.push(`${getBasePath(req)}|${getPath(req)}|${req.url}`)
        return next(req, res)
      })
    )((_req, res) => {
      res.end()
    })
    const server = await listen(app)
    try {
      for (const p of ['/api', '/api/', '/api/x?y=1', '/apix', '/ap', '/'])
        await rawRequest(server.url, { path: p })
      expect(hits).toEqual(['/api|/|/', '/api|/|/', '/api|/x|/x?y=1'])
    } finally {
      await server.close()
    }
  })

  it('should restore the URL for the outer layers: after next, after return and after an error', async () => {
    const seen: string[] = []
    const outer: Middleware = (next) => async (req, res) => {
      await next(req, res)
      seen.push(`outer after: ${req.url} ${getPath(req)} base=${getBasePath(req)}`)
    }
    const inner: Middleware = (next) => async (req, res) => {
      seen.push(`inner: ${req.url}`)
      if (req.url === '/fail') throw new HttpError(409, 'no')
      if (req.url === '/stop') return void res.end()
      await next(req, res)
    }
    const app = stack(
      { onError: () => {} },
      outer,
      mount('/v1', inner)
    )((req, res) => {
      seen.push(`app: ${req.url} base=${getBasePath(req)}`)
      res.end()
    })
    const server = await listen(app)
    try {
      await rawRequest(server.url, { path: '/v1/users?x=1' })
      await rawRequest(server.url, { path: '/v1/stop' })
      const failed = await rawRequest(server.url, { path: '/v1/fail' })
      expect(failed.status).toBe(409)
      expect(seen).toEqual([
        'inner: /users?x=1',
        'app: /v1/users?x=1 base=',
        'outer after: /v1/users?x=1 /v1/users base=',
        'inner: /stop',
        'outer after: /v1/stop /v1/stop base=',
        'inner: /fail',
        'outer after: /v1/fail /v1/fail base=',
      ])
    } finally {
      await server.close()
    }
  })

  it('should nest mounts and compose base paths', async () => {
    const app = stack(
      mount(
        '/a',
        stack(
          mount('/b', () => (req, res) => {
            res.end(`${getBasePath(req)} ${getPath(req)} ${req.url}`)
          })
        )
      )
    )((_req, res) => {
      res.end('fallthrough')
    })
    const server = await listen(app)
    try {
      expect((await rawRequest(server.url, { path: '/a/b/c' })).body).toBe('/a/b /c /c')
      expect((await rawRequest(server.url, { path: '/a/c' })).body).toBe('fallthrough')
    } finally {
      await server.close()
    }
  })

  it('should mount a handler (e.g. an Express app) that ends the chain', async () => {
    const legacy = express()
    legacy.get('/hello', (req, res) => {
      res.send(`legacy ${req.originalUrl} ${req.url}`)
    })
    const app = stack(mount('/legacy', legacy))((_req, res) => {
      res.end('main')
    })
    const server = await listen(app)
    try {
      expect((await rawRequest(server.url, { path: '/legacy/hello' })).body).toBe(
        'legacy /hello /hello'
      )
      expect((await rawRequest(server.url, { path: '/legacy/nope' })).status).toBe(404)
      expect((await rawRequest(server.url, { path: '/other' })).body).toBe('main')
    } finally {
      await server.close()
    }
  })

  it('should match case-insensitively only when asked', async () => {
    const app = stack(
      mount(
        '/Api',
        (next) => (req, res) => {
          res.setHeader('x-mounted', getBasePath(req))
          return next(req, res)
        },
        { caseSensitive: false }
      )
    )((req, res) => {
      res.end(req.url)
    })
    const server = await listen(app)
    try {
      const res = await rawRequest(server.url, { path: '/API/x' })
      expect(res.headers['x-mounted']).toBe('/API')
      expect(res.body).toBe('/API/x')
    } finally {
      await server.close()
    }
  })

  it('should reject bad prefixes and options at build time', () => {
    const mw: Middleware = (n) => n
    expect(() => mount('api', mw)).toThrow(/prefix must be a string starting with "\/"/)
    expect(() => mount('/a/../..', mw)).toThrow(/not a canonical path/)
    expect(() => mount('/a%2Fb', mw)).toThrow(/not a canonical path/)
    expect(() => mount('/a', 'x' as never)).toThrow(/target must be/)
    expect(() => mount('/a', mw, { caseSensitive: 'no' as never })).toThrow(/"caseSensitive"/)
    // A handler that hides its parameters cannot be told from a middleware: say so clearly.
    const hidden = (...args: unknown[]) => (args[1] as { end(): void }).end()
    expect(() =>
      stack(mount('/a', hidden as never))((_q, res) => {
        res.end()
      })
    ).toThrow(/declare its \(req, res\) parameters/)
  })
})

describe('mount guard: the known bypass shapes', () => {
  // A guard on /api in front of a real, case-sensitive Express 5 router.
  function build() {
    const router = express()
    router.set('case sensitive routing', true)
    router.set('strict routing', false)
    router.get('/api/secret', (_req, res) => {
      res.send('secret')
    })
    router.get('/api', (_req, res) => {
      res.send('secret root')
    })
    const guard: Middleware = (next) => (req, res) => {
      if (req.headers.authorization !== 'Bearer ok') throw new HttpError(401, 'login first')
      return next(req, res)
    }
    return stack({ onError: () => {} }, mount('/api', guard))(router)
  }

  const shapes = [
    '/api/secret',
    '/%61pi/secret',
    '/%61%70%69/secret',
    '//api/secret',
    '///api//secret',
    '/./api/secret',
    '/x/../api/secret',
    '/x/%2e%2e/api/secret',
    '/api/./secret',
    '/api;x/secret',
    '/api/secret;x',
    '/API/secret',
    '/api/secret/',
    '/api',
    '/api/',
    '/%2fapi/secret',
    '/api%2fsecret',
    '/api\\secret',
    '/api%00/secret',
    'http://evil.example/api/secret',
  ]

  for (const path of shapes) {
    it(`should never serve the secret without credentials for ${path}`, async () => {
      const server = await listen(build())
      try {
        const res = await rawRequest(server.url, { path })
        expect(res.body).not.toMatch(/^secret/)
        expect([400, 401, 404]).toContain(res.status)
      } finally {
        await server.close()
      }
    })
  }

  it('should decide on the same path the router sees: with credentials, equivalent shapes reach the route', async () => {
    const server = await listen(build())
    try {
      for (const path of ['/%61pi/secret', '//api/secret', '/x/../api/secret', '/api/./secret']) {
        const res = await rawRequest(server.url, { path, headers: { authorization: 'Bearer ok' } })
        expect(res.body, path).toBe('secret')
      }
    } finally {
      await server.close()
    }
  })
})

describe('pathMatcher', () => {
  it('should match like mount, on the canonical path', async () => {
    const inApi = pathMatcher(['/api', '/admin/'])
    const anyCase = pathMatcher('/Docs', { caseSensitive: false })
    const everything = pathMatcher('/')
    const server = await listen(
      stack((n) => n)((req, res) => {
        res.end(`${inApi(req)} ${anyCase(req)} ${everything(req)}`)
      })
    )
    try {
      const cases: [string, string][] = [
        ['/api', 'true false true'],
        ['/api/x', 'true false true'],
        ['/%61pi/x', 'true false true'],
        ['//admin', 'true false true'],
        ['/apix', 'false false true'],
        ['/DOCS/a', 'false true true'],
      ]
      for (const [path, want] of cases) {
        expect((await rawRequest(server.url, { path })).body, path).toBe(want)
      }
    } finally {
      await server.close()
    }
  })

  it("should refuse non-canonical prefixes with the caller's label", () => {
    const label = '[@shallot/auth] option "paths"'
    expect(() => pathMatcher(['/a/../b'], { label })).toThrow(
      /\[@shallot\/auth\] option "paths" "\/a\/..\/b" is not a canonical path \(did you mean "\/b"\?\)/
    )
    expect(() => pathMatcher(['api'], { label })).toThrow(
      /option "paths" must be a string starting/
    )
    expect(() => pathMatcher([], { label })).toThrow(/non-empty list/)
    expect(() => pathMatcher('//a')).toThrow(/did you mean "\/a"/)
  })
})
