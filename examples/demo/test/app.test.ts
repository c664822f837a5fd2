import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logging } from '@shallot/logging'
import { type Listening, listen, rawRequest } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app.js'

const TIME = /^\d+\.\d{3}ms$/
/** `total;dur=1.234` first, then the layers and marks. */
const SERVER_TIMING = /^total;dur=\d+\.\d{3}(, |$)/
/** The header that lets a request into /api with the demo's default key. */
const KEY = { 'x-api-key': 'test-key-123' }
const ORIGIN = 'http://localhost:3000'
const UNAUTHORIZED = {
  statusCode: 401,
  error: 'Unauthorized',
  message: 'Authentication required',
}
const PUBLIC = new URL('../public/', import.meta.url)

let server: Listening
beforeAll(async () => {
  server = await listen(createApp())
})
afterAll(async () => {
  await server?.close()
})

const get = (path: string, headers: Record<string, string> = {}) =>
  rawRequest(server.url, { path, headers })

describe('home page', () => {
  it('should answer GET / with HTML showing the method and path', async () => {
    const res = await get('/')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(res.headers['content-security-policy']).toContain("default-src 'none'")
    expect(res.body).toContain('<th>Method</th><td><code>GET</code></td>')
    expect(res.body).toContain('<th>Path</th><td><code>/</code></td>')
  })

  it('should say how to call the API, and what CORS and timing do', async () => {
    const res = await get('/')
    expect(res.body).toContain(
      `curl -H &#39;X-API-Key: test-key-123&#39; http://127.0.0.1:${server.port}/api/test`
    )
    expect(res.body).toContain('DEMO_API_KEYS')
    expect(res.body).toContain('<code>http://localhost:3000</code>')
    expect(res.body).toContain('credentials')
    expect(res.body).toContain('<code>X-Response-Time</code>')
    expect(res.body).toContain('<code>Server-Timing</code>')
  })

  it('should show the method of a POST', async () => {
    const res = await rawRequest(server.url, { method: 'POST', path: '/', body: 'x=1' })
    expect(res.status).toBe(200)
    expect(res.body).toContain('<th>Method</th><td><code>POST</code></td>')
  })

  it('should HTML-escape the query string it echoes', async () => {
    const res = await get('/?name=<script>alert(1)</script>&"q\'=<b>')
    expect(res.status).toBe(200)
    expect(res.body).not.toMatch(/<script|<b>/)
    expect(res.body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;')
    expect(res.body).toContain('&#34;q&#39;')
  })

  it('should HTML-escape the request target as sent', async () => {
    // Canonicalised by the stack to `/`, so it is the home page; the raw target is echoed.
    const res = await get('/<script>alert(1)</script>/../..')
    expect(res.status).toBe(200)
    expect(res.body).not.toContain('<script')
    expect(res.body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;/../..')
  })

  it('should answer an unknown path like /<script> with a plain-text 404, never HTML', async () => {
    const res = await get('/<script>alert(1)</script>')
    expect(res.status).toBe(404)
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
  })
})

describe('API', () => {
  it('should answer /api/test with JSON', async () => {
    const res = await get('/api/test', KEY)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(res.body)).toEqual({
      message: 'Hello from the Shallot demo',
      method: 'GET',
      path: '/api/test',
    })
  })

  it('should echo the method', async () => {
    const res = await rawRequest(server.url, { method: 'DELETE', path: '/api/test', headers: KEY })
    expect(JSON.parse(res.body)).toMatchObject({ method: 'DELETE', path: '/api/test' })
  })

  it('should answer an unknown API path with a JSON 404 when JSON is accepted', async () => {
    const res = await get('/api/nope', { ...KEY, accept: 'application/json' })
    expect(res.status).toBe(404)
    expect(JSON.parse(res.body)).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'Cannot GET /api/nope',
    })
  })

  it('should answer /api/slow after the delay, and refuse a bad delay', async () => {
    const ok = await get('/api/slow?ms=20', KEY)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({ message: 'Answered after 20 ms' })
    for (const ms of ['abc', '-1', '1.5', '5001']) {
      expect((await get(`/api/slow?ms=${ms}`, KEY)).status).toBe(400)
    }
  })
})

describe('API key', () => {
  const CHALLENGE = 'ApiKey realm="Restricted", header="x-api-key"'

  it('should refuse /api/test without a key: 401, WWW-Authenticate, JSON or text body', async () => {
    const json = await get('/api/test', { accept: 'application/json' })
    expect(json.status).toBe(401)
    expect(json.headers['www-authenticate']).toBe(CHALLENGE)
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(json.body)).toEqual(UNAUTHORIZED)

    const text = await get('/api/test')
    expect(text.status).toBe(401)
    expect(text.headers['www-authenticate']).toBe(CHALLENGE)
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(text.body).toBe('Authentication required\n')
  })

  it('should refuse a wrong key with the same 401 as a missing one', async () => {
    const missing = await get('/api/test', { accept: 'application/json' })
    for (const key of ['wrong', 'test-key-1234', 'TEST-KEY-123', ' test-key-123x']) {
      const res = await get('/api/test', { 'x-api-key': key, accept: 'application/json' })
      expect(res.status, key).toBe(401)
      expect(res.headers['www-authenticate'], key).toBe(CHALLENGE)
      expect(res.body, key).toBe(missing.body)
    }
  })

  it('should protect every path under /api, however it is written, and no other', async () => {
    for (const path of [
      '/api',
      '/api/',
      '/api/slow?ms=0',
      '/api/nope',
      '/%61pi/test',
      '//api/test',
    ]) {
      expect((await get(path)).status, path).toBe(401)
    }
    // Not under /api: open (and a 404 here).
    expect((await get('/apix')).status).toBe(404)
    expect((await get('/')).status).toBe(200)
    expect((await get('/static/hello.txt')).status).toBe(200)
  })

  it('should mark authenticated answers private and vary on the key', async () => {
    const res = await get('/api/test', KEY)
    expect(res.headers['cache-control']).toBe('private')
    expect(res.headers.vary?.toLowerCase()).toContain('x-api-key')
  })

  it('should accept the keys given as apiKeys (DEMO_API_KEYS), and no longer the default', async () => {
    const app = await listen(createApp({ apiKeys: ['key-one', 'key-two'] }))
    try {
      for (const key of ['key-one', 'key-two']) {
        const res = await rawRequest(app.url, { path: '/api/test', headers: { 'x-api-key': key } })
        expect(res.status, key).toBe(200)
        expect(JSON.parse(res.body)).toMatchObject({ path: '/api/test' })
      }
      const old = await rawRequest(app.url, { path: '/api/test', headers: KEY })
      expect(old.status).toBe(401)
    } finally {
      await app.close()
    }
  })

  it('should refuse empty and duplicate keys at start-up', () => {
    expect(() => createApp({ apiKeys: [''] })).toThrow(TypeError)
    expect(() => createApp({ apiKeys: ['a', 'a'] })).toThrow(TypeError)
  })
})

describe('CORS', () => {
  const preflight = (origin: string) =>
    rawRequest(server.url, {
      method: 'OPTIONS',
      path: '/api/test',
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-api-key',
      },
    })

  it('should allow http://localhost:3000 with credentials on an API answer', async () => {
    const res = await get('/api/test', { ...KEY, origin: ORIGIN })
    expect(res.status).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN)
    expect(res.headers['access-control-allow-credentials']).toBe('true')
    expect(res.headers.vary).toMatch(/\bOrigin\b/)
    expect(res.headers['access-control-expose-headers']).toBe(
      'X-Response-Time, Server-Timing, X-Request-Id'
    )
  })

  it('should answer a preflight with 204 without asking for a key', async () => {
    const res = await preflight(ORIGIN)
    expect(res.status).toBe(204)
    expect(res.body).toBe('')
    expect(res.headers['www-authenticate']).toBeUndefined()
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN)
    expect(res.headers['access-control-allow-credentials']).toBe('true')
    expect(res.headers['access-control-allow-methods']).toContain('GET')
    expect(res.headers['access-control-allow-headers']?.toLowerCase()).toContain('x-api-key')
    expect(res.headers['x-response-time']).toMatch(TIME)
    expect(res.headers['server-timing']).toMatch(SERVER_TIMING)
  })

  it('should send no CORS headers to another origin', async () => {
    for (const origin of ['https://evil.example', 'http://localhost:3001', 'null']) {
      const res = await get('/api/test', { ...KEY, origin })
      expect(res.status, origin).toBe(200)
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined()
      expect(res.headers['access-control-allow-credentials'], origin).toBeUndefined()
      expect(res.headers.vary, origin).toMatch(/\bOrigin\b/)

      const pre = await preflight(origin)
      expect(pre.headers['access-control-allow-origin'], origin).toBeUndefined()
      expect(pre.headers['access-control-allow-headers'], origin).toBeUndefined()
    }
  })

  it('should keep the CORS headers on a 401, so the page can read it', async () => {
    const res = await get('/api/test', { origin: ORIGIN, accept: 'application/json' })
    expect(res.status).toBe(401)
    expect(JSON.parse(res.body)).toEqual(UNAUTHORIZED)
    expect(res.headers['www-authenticate']).toBeDefined()
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN)
    expect(res.headers['access-control-allow-credentials']).toBe('true')
    expect(res.headers.vary).toMatch(/\bOrigin\b/)
  })
})

describe('static files', () => {
  it('should serve style.css as text/css with its content', async () => {
    const res = await get('/static/style.css')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.body).toBe(readFileSync(new URL('style.css', PUBLIC), 'utf8'))
  })

  it('should revalidate with a 304 by ETag or Last-Modified', async () => {
    const first = await get('/static/style.css')
    expect(first.headers.etag).toMatch(/^W\/"/)
    expect(first.headers['cache-control']).toBe('max-age=60')
    const byTag = await get('/static/style.css', { 'if-none-match': first.headers.etag as string })
    expect([byTag.status, byTag.body]).toEqual([304, ''])
    const byDate = await get('/static/style.css', {
      'if-modified-since': first.headers['last-modified'] as string,
    })
    expect(byDate.status).toBe(304)
  })

  it('should answer a range request with 206', async () => {
    const res = await get('/static/hello.txt', { range: 'bytes=0-4' })
    expect(res.status).toBe(206)
    expect(res.body).toBe('Hello')
    expect(res.headers['content-range']).toMatch(/^bytes 0-4\/\d+$/)
  })

  it('should serve hello.txt as text/plain', async () => {
    const res = await get('/static/hello.txt')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(res.body).toContain('Hello from the Shallot demo')
  })

  it('should answer HEAD with the length and no body', async () => {
    const res = await rawRequest(server.url, { method: 'HEAD', path: '/static/hello.txt' })
    expect(res.status).toBe(200)
    expect(Number(res.headers['content-length'])).toBe(
      readFileSync(new URL('hello.txt', PUBLIC)).length
    )
    expect(res.body).toBe('')
  })

  it('should refuse other methods with 405 and Allow', async () => {
    const res = await rawRequest(server.url, { method: 'POST', path: '/static/hello.txt' })
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD')
  })

  it('should answer 404 for a missing file and for the folder itself', async () => {
    for (const path of ['/static/missing.css', '/static/', '/static', '/static/style.css/x']) {
      expect((await get(path)).status, path).toBe(404)
    }
  })

  it('should not serve files outside public/, however the path is written', async () => {
    const attempts = [
      '/static/../package.json',
      '/static/%2e%2e/package.json',
      '/static/%2E%2E/%2E%2E/package.json',
      '/static/..%2fpackage.json',
      '/static/%2e%2e%5cpackage.json',
      '/static/..\\package.json',
      '/static/./../src/app.ts',
      '//static/../../package.json',
      '/static/%252e%252e/package.json',
      '/static/%00/../package.json',
    ]
    for (const path of attempts) {
      const res = await get(path)
      expect([400, 404], path).toContain(res.status)
      expect(res.body, path).not.toContain('example-demo')
      expect(res.body, path).not.toContain('createApp')
    }
  })
})

describe('static files: what is not served', () => {
  let dir: string
  let app: Listening
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shallot-demo-'))
    mkdirSync(join(dir, 'public', 'sub'), { recursive: true })
    writeFileSync(join(dir, 'secret.txt'), 'outside')
    writeFileSync(join(dir, 'public', '.env.txt'), 'dotfile')
    writeFileSync(join(dir, 'public', 'notes.bak'), 'backup')
    writeFileSync(join(dir, 'public', 'sub', 'a.txt'), 'nested')
    writeFileSync(join(dir, 'public', 'empty.txt'), '')
    symlinkSync(join(dir, 'secret.txt'), join(dir, 'public', 'link.txt'))
    app = await listen(createApp({ publicDir: join(dir, 'public') }))
  })
  afterAll(async () => {
    await app?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('should serve nested and empty files', async () => {
    const nested = await rawRequest(app.url, { path: '/static/sub/a.txt' })
    expect([nested.status, nested.body]).toEqual([200, 'nested'])
    const empty = await rawRequest(app.url, { path: '/static/empty.txt' })
    expect([empty.status, empty.body, empty.headers['content-length']]).toEqual([200, '', '0'])
  })

  it('should not serve dotfiles, folders or links leading outside', async () => {
    for (const path of ['/static/.env.txt', '/static/sub', '/static/link.txt']) {
      const res = await rawRequest(app.url, { path })
      expect(res.status, path).toBe(404)
      expect(res.body, path).not.toMatch(/dotfile|backup|outside/)
    }
  })

  it('should refuse a missing folder at start-up', () => {
    expect(() => createApp({ publicDir: join(dir, 'nope') })).toThrow(/root/)
  })
})

describe('compression', () => {
  it('should gzip the home page when the client accepts it, and not a small answer', async () => {
    const page = await get('/', { 'accept-encoding': 'gzip' })
    expect(page.headers['content-encoding']).toBe('gzip')
    expect(page.headers.vary).toContain('Accept-Encoding')
    const small = await get('/static/hello.txt', { 'accept-encoding': 'gzip' })
    expect(small.headers['content-encoding']).toBeUndefined()
  })

  it('should decode to the same page', async () => {
    const res = await fetch(`${server.url}/`, { headers: { 'accept-encoding': 'br' } })
    expect(res.headers.get('content-encoding')).toBe('br')
    expect(await res.text()).toContain('You have visited this page 1 times.')
  })
})

describe('unknown paths', () => {
  it('should answer 404 as text by default', async () => {
    const res = await get('/nope')
    expect(res.status).toBe(404)
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(res.body).toBe('Cannot GET /nope\n')
  })

  it('should answer 404 as JSON when JSON is preferred', async () => {
    const res = await get('/nope', { accept: 'application/json' })
    expect(res.status).toBe(404)
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: 404, message: 'Cannot GET /nope' })
  })

  it('should refuse a path climbing above the root with 400', async () => {
    expect((await get('/../package.json')).status).toBe(400)
  })
})

describe('X-Response-Time and Server-Timing', () => {
  it('should be on pages, API answers, files, 401s and 404s', async () => {
    const requests: [string, Record<string, string>, number][] = [
      ['/', {}, 200],
      ['/api/test', KEY, 200],
      ['/static/style.css', {}, 200],
      ['/nope', {}, 404],
      ['/api/nope', KEY, 404],
      ['/api/test', {}, 401],
      ['/api/test', { 'x-api-key': 'wrong' }, 401],
    ]
    for (const [path, headers, status] of requests) {
      const res = await get(path, headers)
      expect(res.status, path).toBe(status)
      expect(res.headers['x-response-time'], path).toMatch(TIME)
      expect(res.headers['server-timing'], path).toMatch(SERVER_TIMING)
    }
  })

  it('should carry the same total in both headers', async () => {
    const res = await get('/')
    const total = /^total;dur=([\d.]+)/.exec(res.headers['server-timing'] as string)?.[1]
    expect(res.headers['x-response-time']).toBe(`${total}ms`)
  })

  it('should list every layer of the stack, in onion order, and the handler', async () => {
    const res = await get('/')
    const names = (res.headers['server-timing'] as string)
      .split(', ')
      .map((entry) => entry.split(';')[0])
    expect(names).toEqual([
      'total',
      'layer.timing',
      'layer.monitoring',
      'layer.compression',
      'layer.cors',
      'layer.static',
      'layer.session',
      'layer.auth',
      'layer.api',
      'layer.app',
    ])
  })

  it('should show where a 401 was answered: the auth layer is the last one entered', async () => {
    const res = await get('/api/test')
    expect(res.headers['server-timing']).toMatch(/, layer\.auth;dur=[\d.]+$/)
  })

  it("should carry the /api/test handler's own mark", async () => {
    const res = await get('/api/test', KEY)
    expect(res.headers['server-timing']).toMatch(/, layer\.api;dur=[\d.]+, /)
    expect(res.headers['server-timing']).toMatch(/, work;dur=[\d.]+;desc="build the answer"$/)
  })

  it('should measure the time until the head is written', async () => {
    const res = await get('/api/slow?ms=50', KEY)
    expect(Number.parseFloat(res.headers['x-response-time'] as string)).toBeGreaterThanOrEqual(45)
    const wait = /wait;dur=([\d.]+)/.exec(res.headers['server-timing'] as string)?.[1]
    expect(Number(wait)).toBeGreaterThanOrEqual(45)
  })
})

describe('access log', () => {
  it('should log one combined line per finished exchange, with a request id on each answer', async () => {
    const lines: string[] = []
    const accessLog = logging({ format: 'combined', sink: (line) => lines.push(line) })
    const app = await listen(createApp({ accessLog }))
    try {
      const ok = await rawRequest(app.url, { path: '/api/test', headers: KEY })
      await rawRequest(app.url, { path: '/nope' })
      await rawRequest(app.url, { path: '/api/test' })
      await rawRequest(app.url, { path: '/a/%2F../x' }) // refused by the stack, logged too
      await accessLog.flush()
      expect(lines).toHaveLength(4)
      expect(lines[3]).toMatch(/"GET \/a\/%2F\.\.\/x HTTP\/1\.1" 400 /)
      expect(lines[0]).toMatch(
        /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/api\/test HTTP\/1\.1" 200 \d+ "-" "-"$/
      )
      expect(lines[1]).toMatch(/"GET \/nope HTTP\/1\.1" 404 /)
      expect(lines[2]).toMatch(/"GET \/api\/test HTTP\/1\.1" 401 /)
      expect(ok.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
      // The log is the outermost layer, so it is the first traced one.
      expect(ok.headers['server-timing']).toMatch(/^total;dur=[\d.]+, layer\.logging;dur=/)
    } finally {
      await app.close()
    }
  })

  it('should never log the API key', async () => {
    const lines: string[] = []
    const accessLog = logging({
      format: ':method :url :req[x-api-key]',
      sink: (l) => lines.push(l),
    })
    const app = await listen(createApp({ accessLog }))
    try {
      await rawRequest(app.url, { path: '/api/test?api_key=test-key-123', headers: KEY })
      await accessLog.flush()
      expect(lines.join('\n')).not.toContain('test-key-123')
    } finally {
      await app.close()
    }
  })
})

describe('visit counter', () => {
  it('should count the visits of one visitor, and set the cookie only on the page', async () => {
    const first = await get('/')
    expect(first.body).toContain('You have visited this page 1 times.')
    const setCookie = first.headers['set-cookie']
    const line = Array.isArray(setCookie) ? setCookie[0] : setCookie
    expect(line).toMatch(/^sid=[\w-]+\.[\w-]+; .*HttpOnly; SameSite=Lax/)
    const cookie = (line as string).split(';')[0] as string
    expect((await get('/', { cookie })).body).toContain('You have visited this page 2 times.')
    expect((await get('/', { cookie })).body).toContain('You have visited this page 3 times.')
    // another visitor starts at 1; other paths neither read nor set the session
    expect((await get('/')).body).toContain('You have visited this page 1 times.')
    expect((await get('/api/test', KEY)).headers['set-cookie']).toBeUndefined()
    expect((await get('/static/hello.txt')).headers['set-cookie']).toBeUndefined()
  })

  it('should start a new count for a forged cookie', async () => {
    const res = await get('/', {
      cookie: 'sid=forged-id.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    })
    expect(res.body).toContain('You have visited this page 1 times.')
  })
})

describe('monitoring endpoints', () => {
  it('should answer /healthz and /readyz', async () => {
    const health = await get('/healthz')
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' })
    const ready = await get('/readyz')
    expect(ready.status).toBe(200)
    expect(JSON.parse(ready.body).status).toBe('ok')
  })

  it('should count requests for /metrics by method, status and normalised route', async () => {
    const app = await listen(createApp())
    try {
      await rawRequest(app.url, { path: '/api/test', headers: KEY })
      await rawRequest(app.url, { path: '/api/test' })
      await rawRequest(app.url, { path: '/users/12345' })
      const metrics = await rawRequest(app.url, { path: '/metrics' })
      expect(metrics.status).toBe(200)
      expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(metrics.body).toMatch(
        /^http_server_requests_total\{method="GET",status_code="200",route="\/api\/test"\} 1$/m
      )
      expect(metrics.body).toMatch(
        /^http_server_requests_total\{method="GET",status_code="401",route="\/api\/test"\} 1$/m
      )
      expect(metrics.body).toContain('route="/users/:id"')
      expect(metrics.body).toContain('process_resident_memory_bytes')
      const stats = JSON.parse((await rawRequest(app.url, { path: '/stats' })).body)
      expect(stats.requests.total).toBe(3)
    } finally {
      await app.close()
    }
  })

  it('should serve the dashboard as one self-contained page', async () => {
    const res = await get('/_monitor')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(res.headers['content-security-policy']).toContain("default-src 'none'")
    // nothing fetched from elsewhere: inline script and style, a data: icon
    expect(res.body).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)/)
  })

  it('should say which readiness check fails', async () => {
    const app = await listen(
      createApp({ checks: { redis: () => Promise.reject(new Error('ECONNREFUSED')) } })
    )
    try {
      const res = await rawRequest(app.url, { path: '/readyz' })
      expect(res.status).toBe(503)
      expect(res.body).toContain('redis')
      expect(res.body).not.toContain('ECONNREFUSED')
    } finally {
      await app.close()
    }
  })
})
