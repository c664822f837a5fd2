import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HttpError, type Middleware, pathMatcher } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkPath } from '../src/serve.js'
import { type Fixture, fixture, rawSocket, type Served, serve } from './helpers.js'

failOnUnhandledRejections()

const SECRET = 'TOP-SECRET-7f3a9c'
const PRIVATE = 'PRIVATE-CONTENT-51b2'
const IN_ROOT: Record<string, string> = {
  'hello.txt': 'hello',
  'index.html': '<h1>home</h1>',
  'docs/index.html': '<h1>docs</h1>',
  'docs/a.txt': 'docs-a',
  'private/x.txt': PRIVATE,
  '.env': `ENV ${SECRET}`,
}

let f: Fixture
beforeAll(() => {
  f = fixture(IN_ROOT, {
    'secret.txt': SECRET,
    'public-private/secret.txt': SECRET,
    'outside-dir/file.txt': SECRET,
  })
  symlinkSync('../secret.txt', join(f.root, 'link-out'))
  symlinkSync('../outside-dir', join(f.root, 'dir-out'))
  symlinkSync('../public-private', join(f.root, 'prefix-out'))
  symlinkSync('hello.txt', join(f.root, 'link-in'))
  symlinkSync('docs', join(f.root, 'dir-in'))
  symlinkSync('.env', join(f.root, 'link-dot'))
  symlinkSync('/etc/passwd', join(f.root, 'passwd'))
})
afterAll(() => f.cleanup())

/** Every path of the corpus: plain, encoded, double-encoded, overlong, mixed, look-alike. */
function corpus(): string[] {
  const dots = [
    '..',
    '%2e%2e',
    '%2E%2E',
    '.%2e',
    '%2e.',
    '%252e%252e',
    '%c0%ae%c0%ae',
    '%e0%80%ae%e0%80%ae',
    '%c0.%c0.',
    '%uff0e%uff0e',
    '%ef%bc%8e%ef%bc%8e',
    '\uff0e\uff0e',
    '%e2%80%a4%e2%80%a4',
    '....',
    '...',
    '..%00',
    '..%20',
    '..;',
  ]
  const seps = [
    '/',
    '%2f',
    '%2F',
    '%252f',
    '\\',
    '%5c',
    '%5C',
    '%255c',
    '%c0%af',
    '%c1%9c',
    '%e2%88%95',
    '\u2215',
    '%ef%bc%8f',
    '\uff0f',
    '%ef%bc%bc',
    '/./',
    '//',
  ]
  const out = new Set<string>()
  for (const d of dots) {
    for (const s of seps) {
      out.add(`/${d}${s}secret.txt`)
      out.add(`/docs/${d}${s}${d}${s}secret.txt`)
    }
    out.add(`/${d}/public-private/secret.txt`)
    out.add(`/${`${d}/`.repeat(8)}etc/passwd`)
  }
  for (const extra of [
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/%252fetc%252fpasswd',
    '///etc/passwd',
    '/\\etc\\passwd',
    '/C:/Windows/win.ini',
    '/c:%5cWindows%5cwin.ini',
    '/C:secret.txt',
    '/file:///etc/passwd',
    '/hello.txt%00.html',
    '/hello.txt%00',
    '/secret.txt%00/hello.txt',
    '/%00/../secret.txt',
    '/docs/a.txt/../../secret.txt',
    '/docs/..%2f..%2fsecret.txt',
    '/docs%2f..%2f..%2fsecret.txt',
    '/.%2e/.%2e/secret.txt',
    '/%2e%2e%5csecret.txt',
    '/..%255c..%255csecret.txt',
    '/link-out',
    '/dir-out/file.txt',
    '/prefix-out/secret.txt',
    '/passwd',
    '/link-dot',
    '/.env',
    '/%2eenv',
    '/.%65nv',
    '/docs/../.env',
    '/public-private/secret.txt',
    '/../public-private/secret.txt',
    '/%2e%2e/public-private/secret.txt',
    '/public/../secret.txt',
    '/.git/../../secret.txt',
    `/${'a/'.repeat(300)}`,
    `/${'x'.repeat(5000)}`,
    '/secret.txt',
    '/hello.txt/..',
    '/hello.txt/../../secret.txt',
    '/ /../secret.txt',
    '/%20/../secret.txt',
    '/..\u0000/secret.txt',
    '/\u0000',
    '/%0a/../secret.txt',
    '/%0d%0aSet-Cookie:x=1',
  ]) {
    out.add(extra)
  }
  return [...out]
}

function status(raw: Buffer): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(raw.toString('latin1'))
  return m === null ? 0 : Number(m[1])
}

function body(raw: Buffer): string {
  const text = raw.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  return end === -1 ? '' : text.slice(end + 4)
}

const LEGIT = new Set(
  Object.entries(IN_ROOT)
    .filter(([k]) => !k.startsWith('.'))
    .map(([, v]) => v)
)

async function probe(
  s: Served,
  path: string
): Promise<{ status: number; body: string; raw: string }> {
  const bytes = Buffer.concat([
    Buffer.from('GET '),
    Buffer.from(path, 'utf8'),
    Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  ])
  const raw = await rawSocket(s.port, bytes)
  return { status: status(raw), body: body(raw), raw: raw.toString('latin1') }
}

describe('static: traversal corpus', () => {
  const paths = corpus()

  it('should have at least 200 payloads', () => {
    expect(paths.length).toBeGreaterThanOrEqual(200)
  })

  for (const symlinks of ['within-root', 'deny'] as const) {
    it(`should never read outside root (symlinks: ${symlinks}), answer 400/403/404 or an in-root file, and leak no path`, async () => {
      const s = await serve(f.root, { fallthrough: false, symlinks })
      try {
        const answers = new Map<number, number>()
        for (const path of paths) {
          const r = await probe(s, path)
          answers.set(r.status, (answers.get(r.status) ?? 0) + 1)
          expect(r.raw, path).not.toContain(SECRET)
          expect(r.raw, path).not.toMatch(/root:.*:0:0:/)
          expect(r.raw, path).not.toContain(f.base)
          expect(r.raw, path).not.toContain('/tmp')
          if (r.status === 200) expect(LEGIT.has(r.body), `${path} -> ${r.body}`).toBe(true)
          else if (r.status === 301) expect(r.raw).toMatch(/\r\nLocation: \.\/[^/]+\/\r\n/)
          else expect([400, 403, 404, 414, 431], `${path} -> ${r.status}`).toContain(r.status)
        }
        // The corpus reaches the layer: most answers are the stack's 400 or the layer's 404.
        expect((answers.get(400) ?? 0) + (answers.get(404) ?? 0)).toBeGreaterThan(paths.length / 2)
      } finally {
        await s.close()
      }
    })
  }

  it('should serve the same corpus under a prefix without leaking', async () => {
    const s = await serve(f.root, { fallthrough: false, prefix: '/static' })
    try {
      for (const path of paths) {
        const r = await probe(s, `/static${path}`)
        expect(r.raw, path).not.toContain(SECRET)
        expect(r.raw, path).not.toContain(f.base)
      }
      // the probe itself can see a file: the check above is able to fail
      expect((await probe(s, '/static/hello.txt')).body).toBe('hello')
    } finally {
      await s.close()
    }
  })

  it('should refuse what the stack would refuse, even standalone', () => {
    for (const p of ['/a\0b', '/a\\b', '/../x', '/a/./b', '/a//b', '/C:/x', '/c:x']) {
      expect(checkPath(p), JSON.stringify(p)).toBe(400)
    }
    expect(checkPath(`/${'x'.repeat(300)}`)).toBe(404)
    expect(checkPath(`/${'x/'.repeat(3000)}`)).toBe(404)
    for (const p of ['/a/b', '/a/', '/', '/..a', '/a..', '/a.b']) expect(checkPath(p), p).toBe(0)
  })
})

describe('static: symlinks', () => {
  const cases: [string, Record<'within-root' | 'deny' | 'follow', number>][] = [
    ['/link-in', { 'within-root': 200, deny: 404, follow: 200 }],
    ['/dir-in/a.txt', { 'within-root': 200, deny: 404, follow: 200 }],
    ['/link-out', { 'within-root': 404, deny: 404, follow: 200 }],
    ['/dir-out/file.txt', { 'within-root': 404, deny: 404, follow: 200 }],
    ['/prefix-out/secret.txt', { 'within-root': 404, deny: 404, follow: 200 }],
    ['/link-dot', { 'within-root': 404, deny: 404, follow: 200 }],
  ]
  for (const policy of ['within-root', 'deny', 'follow'] as const) {
    it(`should apply symlinks: '${policy}' on the real path`, async () => {
      const s = await serve(f.root, { fallthrough: false, symlinks: policy })
      try {
        for (const [path, expected] of cases) {
          const r = await s.get(path)
          expect(r.status, `${policy} ${path}`).toBe(expected[policy])
          if (r.status === 404) expect(r.text).not.toContain(SECRET)
        }
      } finally {
        await s.close()
      }
    })
  }

  it('should notice a link put in place of an indexed file', async () => {
    const g = fixture({ 'swap.txt': 'original' }, { 'outside.txt': SECRET })
    const s = await serve(g.root, { fallthrough: false, watch: false })
    try {
      expect((await s.get('/swap.txt')).text).toBe('original')
      const { rmSync } = await import('node:fs')
      rmSync(join(g.root, 'swap.txt'))
      symlinkSync('../outside.txt', join(g.root, 'swap.txt'))
      const r = await s.get('/swap.txt')
      expect(r.status).toBe(404)
      expect(r.text).not.toContain(SECRET)
    } finally {
      await s.close()
      g.cleanup()
    }
  })
})

describe('static: a route-scoped guard cannot be bypassed', () => {
  /** Refuses /private and below without the key, on the stack's canonical path. */
  const isPrivate = pathMatcher('/private')
  const guard: Middleware = (next) =>
    function guard(req, res) {
      if (isPrivate(req) && req.headers['x-key'] !== 'k') throw new HttpError(401, 'Unauthorized')
      return next(req, res)
    }

  it('should never serve the private file without the key, whatever the encoding', async () => {
    const s = await serve(f.root, { fallthrough: false, extensions: ['txt'] }, undefined, [guard])
    try {
      const shapes = [
        '/private/x.txt',
        '/private/x',
        '/public/../private/x.txt',
        '/docs/../private/x.txt',
        '/./private/x.txt',
        '//private/x.txt',
        '///private//x.txt',
        '/private/./x.txt',
        '/%70rivate/x.txt',
        '/%70%72%69%76%61%74%65/%78.txt',
        '/private%2Fx.txt',
        '/private%2fx.txt',
        '/docs/..%2Fprivate/x.txt',
        '/%2e%2e/private/x.txt',
        '/%2e/private/x.txt',
        '/private\\x.txt',
        '/private%5Cx.txt',
        '/private/x.txt%00',
        '/private/x.txt/.',
        '/private/',
        '/private',
        '/private;/x.txt',
        '/private%3B/x.txt',
        'http://x/private/x.txt',
        'http://x/docs/../private/x.txt',
      ]
      for (const path of shapes) {
        const r = await probe(s, path)
        expect(r.body, path).not.toContain(PRIVATE)
        expect([301, 400, 401, 404], `${path} -> ${r.status}`).toContain(r.status)
      }
      // with the key the file is served: the probe can see it
      const ok = await s.get('/private/x.txt', { 'x-key': 'k' })
      expect(ok.text).toBe(PRIVATE)
    } finally {
      await s.close()
    }
  })
})

describe('static: errors carry no user data', () => {
  it('should render 400/403/404/405/412/416 with CSP, nosniff and no reflected path', async () => {
    const g = fixture({ 'a.txt': 'a' })
    writeFileSync(join(g.root, 'b.txt'), 'b')
    mkdirSync(join(g.root, 'd'))
    const s = await serve(g.root, { fallthrough: false, dotfiles: 'deny' })
    try {
      const marker = '%3Cimg%20src%3Dx%3E'
      const replies = [
        await s.get(`/${marker}%2F`),
        await s.get(`/.${marker}`),
        await s.get(`/${marker}`),
        await s.get(`/${marker}`, {}, 'POST'),
        await s.get('/a.txt', { 'if-match': `"${marker}"` }),
        await s.get('/a.txt', { range: 'bytes=9-' }),
      ]
      expect(replies.map((r) => r.status)).toEqual([400, 403, 404, 405, 412, 416])
      for (const r of replies) {
        expect(r.headers['content-security-policy']).toBe("default-src 'none'")
        expect(r.headers['x-content-type-options']).toBe('nosniff')
        expect(r.text).not.toMatch(/img|%3C|</i)
        expect(r.text).not.toContain(g.base)
      }
    } finally {
      await s.close()
      g.cleanup()
    }
  })
})
