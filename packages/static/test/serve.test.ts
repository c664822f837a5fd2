import { appendVary, mount, onHeaders, stack } from '@shallot/stack'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveStatic } from '../src/index.js'
import { app, type Fixture, fixture, get, type Served, serve } from './helpers.js'

failOnUnhandledRejections()

let f: Fixture
beforeAll(() => {
  f = fixture({
    'hello.txt': 'hello world\n',
    'index.html': '<h1>home</h1>',
    'app.js': 'console.log(1)',
    'style.css': 'body{}',
    'data.json': '{"a":1}',
    'logo.svg': '<svg/>',
    'blob.unknownext': 'x',
    README: 'no extension',
    'empty.txt': '',
    'docs/index.html': '<h1>docs</h1>',
    'docs/guide.html': '<h1>guide</h1>',
    'nodir-index/file.txt': 'f',
    'about.html': '<h1>about</h1>',
    '.env': 'SECRET=1',
    '.git/config': '[core]',
    '.well-known/security.txt': 'Contact: x',
    '.well-known/.hidden': 'h',
    'café.txt': 'unicode name',
    'with space.txt': 'space',
    'http:/index.html': 'colon dir',
  })
})
afterAll(() => f.cleanup())

async function withServer(
  options: Parameters<typeof serve>[1],
  fn: (s: Served) => Promise<void>,
  handler?: Parameters<typeof serve>[2],
  before?: Parameters<typeof serve>[3]
): Promise<void> {
  const s = await serve(f.root, options, handler, before)
  try {
    await fn(s)
  } finally {
    await s.close()
  }
}

describe('static: serving files', () => {
  it('should serve a file with its type, length, validators and nosniff', async () => {
    await withServer({}, async (s) => {
      const r = await s.get('/hello.txt')
      expect(r.status).toBe(200)
      expect(r.text).toBe('hello world\n')
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
      expect(r.headers['content-length']).toBe('12')
      expect(r.headers.etag).toMatch(/^W\/"c-[0-9a-f]+"$/)
      expect(new Date(r.headers['last-modified'] as string).getTime()).toBeGreaterThan(0)
      expect(r.headers['cache-control']).toBe('max-age=0')
      expect(r.headers['accept-ranges']).toBe('bytes')
      expect(r.headers['x-content-type-options']).toBe('nosniff')
    })
  })

  it('should take the content type from mime-types, with charset=utf-8 for text only', async () => {
    await withServer({}, async (s) => {
      const types: Record<string, string> = {
        '/app.js': 'text/javascript; charset=utf-8',
        '/style.css': 'text/css; charset=utf-8',
        '/data.json': 'application/json; charset=utf-8',
        '/logo.svg': 'image/svg+xml',
        '/index.html': 'text/html; charset=utf-8',
        '/blob.unknownext': 'application/octet-stream',
        '/README': 'application/octet-stream',
      }
      for (const [path, type] of Object.entries(types)) {
        expect((await s.get(path)).headers['content-type'], path).toBe(type)
      }
    })
  })

  it('should serve names that need percent-encoding', async () => {
    await withServer({}, async (s) => {
      expect((await s.get('/caf%C3%A9.txt')).text).toBe('unicode name')
      expect((await s.get('/with%20space.txt')).text).toBe('space')
    })
  })

  it('should serve an empty file', async () => {
    await withServer({}, async (s) => {
      const r = await s.get('/empty.txt')
      expect(r.status).toBe(200)
      expect(r.headers['content-length']).toBe('0')
      expect(r.body.length).toBe(0)
    })
  })

  it('should answer HEAD with the headers of GET and no body', async () => {
    await withServer({}, async (s) => {
      const g = await s.get('/hello.txt')
      const h = await s.get('/hello.txt', {}, 'HEAD')
      expect(h.status).toBe(200)
      expect(h.body.length).toBe(0)
      for (const name of [
        'content-type',
        'content-length',
        'etag',
        'last-modified',
        'cache-control',
        'accept-ranges',
        'x-content-type-options',
      ]) {
        expect(h.headers[name], name).toBe(g.headers[name])
      }
    })
  })

  it('should let any other method through, or answer 405 with Allow when fallthrough is off', async () => {
    await withServer({}, async (s) => {
      for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
        const r = await s.get('/hello.txt', {}, m)
        expect(r.status, m).toBe(418)
      }
    })
    await withServer({ fallthrough: false }, async (s) => {
      for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const r = await s.get('/hello.txt', {}, m)
        expect(r.status, m).toBe(405)
        expect(r.headers.allow).toBe('GET, HEAD')
      }
    })
  })
})

describe('static: misses and fallthrough', () => {
  it('should hand a miss to the next handler by default', async () => {
    await withServer({}, async (s) => {
      const r = await s.get('/nope.txt')
      expect(r.status).toBe(418)
      expect(r.text).toBe('app')
    })
  })

  it('should answer 404 with fallthrough: false, with CSP and nosniff and no user data', async () => {
    await withServer({ fallthrough: false }, async (s) => {
      const r = await s.get('/%3Cscript%3Ealert(1)%3C_script%3E.txt')
      expect(r.status).toBe(404)
      expect(r.headers['content-security-policy']).toBe("default-src 'none'")
      expect(r.headers['x-content-type-options']).toBe('nosniff')
      expect(r.text).not.toMatch(/script|alert/)
      expect(r.text).not.toContain(f.base)
    })
  })

  it('should never list a directory', async () => {
    await withServer({ fallthrough: false }, async (s) => {
      expect((await s.get('/nodir-index/')).status).toBe(404)
      expect((await s.get('/nodir-index')).status).toBe(404)
    })
  })
})

describe('static: index files and redirects', () => {
  it('should serve index.html for / and for a directory with a trailing slash', async () => {
    await withServer({}, async (s) => {
      expect((await s.get('/')).text).toBe('<h1>home</h1>')
      expect((await s.get('/docs/')).text).toBe('<h1>docs</h1>')
    })
  })

  it('should redirect a directory without its slash to a relative Location, with a constant body', async () => {
    await withServer({}, async (s) => {
      const r = await s.get('/docs')
      expect(r.status).toBe(301)
      expect(r.headers.location).toBe('./docs/')
      expect(r.headers['content-security-policy']).toBe("default-src 'none'")
      expect(r.headers['x-content-type-options']).toBe('nosniff')
      expect(r.text).toBe('Moved Permanently\n')
      const q = await s.get('/docs?page=2')
      expect(q.headers.location).toBe('./docs/?page=2')
      const head = await s.get('/docs', {}, 'HEAD')
      expect(head.status).toBe(301)
      expect(head.body.length).toBe(0)
    })
  })

  it('should keep a segment with a colon from reading as a scheme', async () => {
    await withServer({}, async (s) => {
      const r = await s.get('/http:')
      expect(r.status).toBe(301)
      expect(r.headers.location).toBe('./http:/')
      expect(new URL(r.headers.location as string, 'http://h.example/http:').href).toBe(
        'http://h.example/http:/'
      )
    })
  })

  it('should never produce a Location that leaves the host', async () => {
    await withServer({}, async (s) => {
      for (const path of ['//docs', '///docs', '/.//docs', '/x/../docs', '/%2E/docs']) {
        const r = await s.get(path)
        expect(r.status, path).toBe(301)
        const loc = r.headers.location as string
        expect(loc, path).toBe('./docs/')
        expect(new URL(loc, `http://h.example${path}`).host).toBe('h.example')
      }
      for (const path of [
        '//evil.example',
        '//evil.example/',
        '/%2F%2Fevil.example',
        '/\\evil.example',
        '/%5Cevil.example',
      ]) {
        const r = await s.get(path)
        expect(r.headers.location, path).toBeUndefined()
        expect([400, 418]).toContain(r.status)
      }
    })
  })

  it('should use the configured index names, in order, or none', async () => {
    await withServer({ index: ['guide.html', 'index.html'] }, async (s) => {
      expect((await s.get('/docs/')).text).toBe('<h1>guide</h1>')
      expect((await s.get('/')).text).toBe('<h1>home</h1>')
    })
    await withServer({ index: false, fallthrough: false }, async (s) => {
      expect((await s.get('/')).status).toBe(404)
      expect((await s.get('/docs')).status).toBe(404)
    })
  })

  it('should treat a directory without slash as a miss with redirect: false', async () => {
    await withServer({ redirect: false }, async (s) => {
      expect((await s.get('/docs')).status).toBe(418)
      expect((await s.get('/docs/')).text).toBe('<h1>docs</h1>')
    })
  })
})

describe('static: prefix', () => {
  it('should serve under the prefix only, segment by segment', async () => {
    await withServer({ prefix: '/static' }, async (s) => {
      expect((await s.get('/static/hello.txt')).text).toBe('hello world\n')
      expect((await s.get('/hello.txt')).status).toBe(418)
      expect((await s.get('/staticx/hello.txt')).status).toBe(418)
      expect((await s.get('/static/')).text).toBe('<h1>home</h1>')
      const r = await s.get('/static')
      expect(r.status).toBe(301)
      expect(r.headers.location).toBe('./static/')
      expect((await s.get('/static/docs')).headers.location).toBe('./docs/')
    })
  })

  it('should work inside mount() too', async () => {
    const layer = serveStatic(f.root)
    const server = await listen(stack(mount('/assets', layer))(app))
    try {
      expect((await get(server.url, '/assets/hello.txt')).text).toBe('hello world\n')
      expect((await get(server.url, '/assets/docs')).headers.location).toBe('./docs/')
      expect((await get(server.url, '/hello.txt')).status).toBe(418)
    } finally {
      layer.close()
      await server.close()
    }
  })
})

describe('static: dotfiles', () => {
  it('should ignore dotfiles by default, as if absent', async () => {
    await withServer({}, async (s) => {
      expect((await s.get('/.env')).status).toBe(418)
      expect((await s.get('/.git/config')).status).toBe(418)
      expect((await s.get('/.git/')).status).toBe(418)
    })
    await withServer({ fallthrough: false }, async (s) => {
      expect((await s.get('/.env')).status).toBe(404)
      expect((await s.get('/.nothing')).status).toBe(404)
    })
  })

  it('should answer 403 with deny, whether the file exists or not', async () => {
    await withServer({ dotfiles: 'deny' }, async (s) => {
      expect((await s.get('/.env')).status).toBe(403)
      expect((await s.get('/.nothing')).status).toBe(403)
      expect((await s.get('/.git/config')).status).toBe(403)
      expect((await s.get('/.env')).text).not.toContain('SECRET')
    })
  })

  it('should serve them with allow', async () => {
    await withServer({ dotfiles: 'allow' }, async (s) => {
      expect((await s.get('/.env')).text).toBe('SECRET=1')
      expect((await s.get('/.git/config')).text).toBe('[core]')
    })
  })

  it('should treat /.well-known as a normal directory, but not dotfiles inside it', async () => {
    await withServer({ fallthrough: false }, async (s) => {
      expect((await s.get('/.well-known/security.txt')).text).toBe('Contact: x')
      expect((await s.get('/.well-known/.hidden')).status).toBe(404)
      expect((await s.get('/.well-knownx/security.txt')).status).toBe(404)
    })
  })
})

describe('static: extensions', () => {
  it('should try the extensions in order when the file does not exist', async () => {
    await withServer({ extensions: ['html'] }, async (s) => {
      expect((await s.get('/about')).text).toBe('<h1>about</h1>')
      expect((await s.get('/docs/guide')).text).toBe('<h1>guide</h1>')
      expect((await s.get('/hello.txt')).text).toBe('hello world\n')
      expect((await s.get('/missing')).status).toBe(418)
    })
  })

  it('should not try them without the option', async () => {
    await withServer({}, async (s) => {
      expect((await s.get('/about')).status).toBe(418)
    })
  })
})

describe('static: single-page-app fallback', () => {
  const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }

  it('should serve the spa file for HTML navigations to unknown paths without extension', async () => {
    await withServer({ spa: 'index.html' }, async (s) => {
      const r = await s.get('/users/42', html)
      expect(r.status).toBe(200)
      expect(r.text).toBe('<h1>home</h1>')
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(r.headers.vary).toMatch(/\bAccept\b/)
      const head = await s.get('/users/42', html, 'HEAD')
      expect(head.status).toBe(200)
      expect(head.body.length).toBe(0)
    })
  })

  it('should not apply to assets, non-HTML requests, other methods or dot paths', async () => {
    await withServer({ spa: 'index.html' }, async (s) => {
      expect((await s.get('/missing.js', html)).status).toBe(418)
      expect((await s.get('/users/42', { accept: 'application/json' })).status).toBe(418)
      expect((await s.get('/users/42')).status).toBe(418)
      expect((await s.get('/users/42', html, 'POST')).status).toBe(418)
      expect((await s.get('/.secret/route', html)).status).toBe(418)
      // A real file is still served as itself.
      expect((await s.get('/hello.txt', html)).text).toBe('hello world\n')
    })
  })

  it('should honour conditional requests on the spa file', async () => {
    await withServer({ spa: 'index.html' }, async (s) => {
      const first = await s.get('/deep/link', html)
      const again = await s.get('/deep/link', {
        ...html,
        'if-none-match': first.headers.etag as string,
      })
      expect(again.status).toBe(304)
    })
  })
})

describe('static: cache control and setHeaders', () => {
  it('should build Cache-Control from maxAge (seconds or a unit) and immutable', async () => {
    await withServer({ maxAge: 3600 }, async (s) => {
      expect((await s.get('/hello.txt')).headers['cache-control']).toBe('max-age=3600')
    })
    await withServer({ maxAge: '1y', immutable: true }, async (s) => {
      expect((await s.get('/hello.txt')).headers['cache-control']).toBe(
        'max-age=31536000, immutable'
      )
    })
    await withServer({ cacheControl: false }, async (s) => {
      expect((await s.get('/hello.txt')).headers['cache-control']).toBeUndefined()
    })
  })

  it('should take Cache-Control per file from a function, once per file', async () => {
    const seen: string[] = []
    await withServer(
      {
        cacheControl: (path) => {
          seen.push(path)
          return path.endsWith('.html') ? 'no-cache' : path === '/app.js' ? false : 'max-age=60'
        },
      },
      async (s) => {
        expect((await s.get('/index.html')).headers['cache-control']).toBe('no-cache')
        expect((await s.get('/')).headers['cache-control']).toBe('no-cache')
        expect((await s.get('/hello.txt')).headers['cache-control']).toBe('max-age=60')
        expect((await s.get('/hello.txt')).headers['cache-control']).toBe('max-age=60')
        expect((await s.get('/app.js')).headers['cache-control']).toBeUndefined()
        expect(seen.filter((p) => p === '/hello.txt')).toHaveLength(1)
      }
    )
  })

  it('should call setHeaders with the file path and stats, and let it change headers', async () => {
    const calls: { path: string; size: number }[] = []
    await withServer(
      {
        setHeaders: (res, path, stat) => {
          calls.push({ path, size: stat.size })
          res.setHeader('X-File-Size', String(stat.size))
          res.setHeader('Cache-Control', 'private')
        },
      },
      async (s) => {
        const r = await s.get('/hello.txt')
        expect(r.headers['x-file-size']).toBe('12')
        expect(r.headers['cache-control']).toBe('private')
        const c = await s.get('/hello.txt', { 'if-none-match': r.headers.etag as string })
        expect(c.status).toBe(304)
        expect(c.headers['x-file-size']).toBe('12')
        expect(calls[0]?.path.endsWith('hello.txt')).toBe(true)
      }
    )
  })

  it('should keep what onHeaders listeners of outer layers add', async () => {
    await withServer(
      { precompressed: true, spa: 'index.html' },
      async (s) => {
        const r = await s.get('/users/1', { accept: 'text/html' })
        expect(r.status).toBe(200)
        expect(r.headers['x-outer']).toBe('1')
        expect(r.headers.vary).toBe('Accept, Origin')
        expect(r.headers.etag).toBeDefined()
        expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
        const c = await s.get('/hello.txt', { 'if-none-match': '*' })
        expect(c.status).toBe(304)
        expect(c.headers['x-outer']).toBe('1')
      },
      undefined,
      [
        (next) => (req, res) => {
          onHeaders(res, () => {
            res.setHeader('X-Outer', '1')
            appendVary(res, 'Origin')
          })
          return next(req, res)
        },
      ]
    )
  })

  it('should merge Vary with what an outer layer set', async () => {
    await withServer(
      { spa: 'index.html' },
      async (s) => {
        const r = await s.get('/route', { accept: 'text/html' })
        expect(r.headers.vary).toBe('Origin, Accept')
      },
      undefined,
      [
        (next) => (req, res) => {
          res.setHeader('Vary', 'Origin')
          return next(req, res)
        },
      ]
    )
  })
})
