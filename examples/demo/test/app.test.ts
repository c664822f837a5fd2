import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Listening, listen, rawRequest } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app.js'
import { responseTime } from '../src/response-time.js'

const TIME = /^\d+\.\d{3}ms$/
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
    const res = await get('/api/test')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(res.body)).toEqual({
      message: 'Hello from the Shallot demo',
      method: 'GET',
      path: '/api/test',
    })
  })

  it('should echo the method', async () => {
    const res = await rawRequest(server.url, { method: 'DELETE', path: '/api/test' })
    expect(JSON.parse(res.body)).toMatchObject({ method: 'DELETE', path: '/api/test' })
  })

  it('should answer an unknown API path with a JSON 404 when JSON is accepted', async () => {
    const res = await get('/api/nope', { accept: 'application/json' })
    expect(res.status).toBe(404)
    expect(JSON.parse(res.body)).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'Cannot GET /api/nope',
    })
  })

  it('should answer /api/slow after the delay, and refuse a bad delay', async () => {
    const ok = await get('/api/slow?ms=20')
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({ message: 'Answered after 20 ms' })
    for (const ms of ['abc', '-1', '1.5', '5001']) {
      expect((await get(`/api/slow?ms=${ms}`)).status).toBe(400)
    }
  })
})

describe('public files', () => {
  it('should serve style.css as text/css with its content', async () => {
    const res = await get('/public/style.css')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.body).toBe(readFileSync(new URL('style.css', PUBLIC), 'utf8'))
  })

  it('should serve hello.txt as text/plain', async () => {
    const res = await get('/public/hello.txt')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(res.body).toContain('Hello from the Shallot demo')
  })

  it('should answer HEAD with the length and no body', async () => {
    const res = await rawRequest(server.url, { method: 'HEAD', path: '/public/hello.txt' })
    expect(res.status).toBe(200)
    expect(Number(res.headers['content-length'])).toBe(
      readFileSync(new URL('hello.txt', PUBLIC)).length
    )
    expect(res.body).toBe('')
  })

  it('should refuse other methods with 405 and Allow', async () => {
    const res = await rawRequest(server.url, { method: 'POST', path: '/public/hello.txt' })
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD')
  })

  it('should answer 404 for a missing file and for the folder itself', async () => {
    for (const path of ['/public/missing.css', '/public/', '/public', '/public/style.css/x']) {
      expect((await get(path)).status, path).toBe(404)
    }
  })

  it('should not serve files outside public/, however the path is written', async () => {
    const attempts = [
      '/public/../package.json',
      '/public/%2e%2e/package.json',
      '/public/%2E%2E/%2E%2E/package.json',
      '/public/..%2fpackage.json',
      '/public/%2e%2e%5cpackage.json',
      '/public/..\\package.json',
      '/public/./../src/app.ts',
      '//public/../../package.json',
      '/public/%252e%252e/package.json',
      '/public/%00/../package.json',
    ]
    for (const path of attempts) {
      const res = await get(path)
      expect([400, 404], path).toContain(res.status)
      expect(res.body, path).not.toContain('example-demo')
      expect(res.body, path).not.toContain('createApp')
    }
  })
})

describe('public files: what is not served', () => {
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
    const nested = await rawRequest(app.url, { path: '/public/sub/a.txt' })
    expect([nested.status, nested.body]).toEqual([200, 'nested'])
    const empty = await rawRequest(app.url, { path: '/public/empty.txt' })
    expect([empty.status, empty.body, empty.headers['content-length']]).toEqual([200, '', '0'])
  })

  it('should not serve dotfiles, unlisted extensions, folders or links leading outside', async () => {
    for (const path of [
      '/public/.env.txt',
      '/public/notes.bak',
      '/public/sub',
      '/public/link.txt',
    ]) {
      const res = await rawRequest(app.url, { path })
      expect(res.status, path).toBe(404)
      expect(res.body, path).not.toMatch(/dotfile|backup|outside/)
    }
  })

  it('should refuse a missing folder at start-up', () => {
    expect(() => createApp({ publicDir: join(dir, 'nope') })).toThrow(/ENOENT/)
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

describe('X-Response-Time', () => {
  it('should be on pages, API answers, files and error responses', async () => {
    for (const path of ['/', '/api/test', '/public/style.css', '/nope', '/api/nope']) {
      const res = await get(path)
      expect(res.headers['x-response-time'], path).toMatch(TIME)
    }
  })

  it('should measure the time until the head is written', async () => {
    const res = await get('/api/slow?ms=50')
    expect(Number.parseFloat(res.headers['x-response-time'] as string)).toBeGreaterThanOrEqual(45)
  })

  it('should reject bad options when the layer is built', () => {
    expect(() => responseTime({ digits: -1 })).toThrow(/option "digits"/)
    expect(() => responseTime({ digits: 1.5 })).toThrow(/option "digits"/)
    expect(() => responseTime({ header: 'bad header' })).toThrow(/option "header"/)
  })
})

describe('access log', () => {
  it('should log one line per finished exchange when asked', async () => {
    const lines: string[] = []
    const app = await listen(createApp({ log: (line) => lines.push(line) }))
    try {
      await rawRequest(app.url, { path: '/api/test' })
      await rawRequest(app.url, { path: '/nope' })
      await expect.poll(() => lines.length).toBe(2)
      expect(lines[0]).toMatch(/^GET \/api\/test 200 \d+\.\d{3}ms$/)
      expect(lines[1]).toMatch(/^GET \/nope 404 \d+\.\d{3}ms$/)
    } finally {
      await app.close()
    }
  })
})
