import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ServeStaticOptions, serveStatic } from '../src/index.js'
import { parseMaxAge } from '../src/options.js'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shallot-static-options-'))
  writeFileSync(join(dir, 'index.html'), 'x')
  writeFileSync(join(dir, 'file.txt'), 'x')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function rejects(options: unknown, message: RegExp): void {
  expect(() => serveStatic(dir, options as ServeStaticOptions)).toThrow(TypeError)
  expect(() => serveStatic(dir, options as ServeStaticOptions)).toThrow(message)
}

describe('static: root is checked at start-up', () => {
  it('should accept a path or a file: URL to a directory', () => {
    serveStatic(dir).close()
    serveStatic(pathToFileURL(dir)).close()
    serveStatic(`${dir}/`).close()
    const link = `${dir}-link`
    symlinkSync(dir, link)
    try {
      serveStatic(link).close()
    } finally {
      rmSync(link)
    }
  })

  it('should refuse a root that does not exist, is not a directory, or is not a path', () => {
    expect(() => serveStatic(join(dir, 'nope'))).toThrow(
      /\[@shallot\/static\] root ".*nope" does not exist/
    )
    expect(() => serveStatic(join(dir, 'file.txt'))).toThrow(
      /root ".*file\.txt" is not a directory/
    )
    expect(() => serveStatic('')).toThrow(/root must be a path to a directory, got an empty string/)
    expect(() => serveStatic(42 as never)).toThrow(/root must be a path to a directory, got number/)
    expect(() => serveStatic(new URL('https://example.com/'))).toThrow(/file: URL/)
  })
})

describe('static: options are checked at start-up', () => {
  it('should build with every option set', () => {
    serveStatic(dir, {
      prefix: '/static',
      index: ['index.html', 'index.htm'],
      redirect: true,
      extensions: ['html'],
      dotfiles: 'deny',
      fallthrough: false,
      spa: 'index.html',
      etag: 'strong',
      lastModified: true,
      maxAge: '7d',
      immutable: true,
      acceptRanges: true,
      maxRanges: 4,
      precompressed: ['br', 'zstd', 'gzip'],
      symlinks: 'deny',
      setHeaders: () => {},
      watch: false,
      maxEntries: 100,
      memoryCache: { maxFileSize: 1024, maxSize: 4096 },
    }).close()
  })

  it('should reject options that are not an object, and unknown options with hints', () => {
    for (const bad of [null, 'x', 42, []])
      rejects(bad, /\[@shallot\/static\] options must be an object/)
    rejects({ maxage: 1 }, /unknown option "maxage": did you mean "maxAge"\?/)
    rejects({ single: true }, /unknown option "single": did you mean "spa"/)
    rejects({ dev: true }, /did you mean "watch"/)
    rejects({ gzip: true }, /precompressed/)
    rejects({ brotli: true }, /precompressed/)
    rejects({ hidden: true }, /dotfiles/)
    rejects({ colour: 'red' }, /unknown option "colour"$/)
  })

  it('should name the option in every refusal', () => {
    const cases: [ServeStaticOptions | Record<string, unknown>, string][] = [
      [{ prefix: 'static' }, 'prefix'],
      [{ prefix: '/a/../b' }, 'prefix'],
      [{ prefix: 42 }, 'prefix'],
      [{ index: 'a/b.html' }, 'index'],
      [{ index: ['..'] }, 'index'],
      [{ index: 42 }, 'index'],
      [{ index: true }, 'index'],
      [{ redirect: 'yes' }, 'redirect'],
      [{ extensions: 'html' }, 'extensions'],
      [{ extensions: ['.html'] }, 'extensions'],
      [{ extensions: [''] }, 'extensions'],
      [{ dotfiles: 'hide' }, 'dotfiles'],
      [{ dotfiles: true }, 'dotfiles'],
      [{ fallthrough: 1 }, 'fallthrough'],
      [{ spa: true }, 'spa'],
      [{ spa: '../index.html' }, 'spa'],
      [{ spa: 'missing.html' }, 'spa'],
      [{ etag: 'medium' }, 'etag'],
      [{ lastModified: 'no' }, 'lastModified'],
      [{ maxAge: -1 }, 'maxAge'],
      [{ maxAge: 1.5 }, 'maxAge'],
      [{ maxAge: '1 fortnight' }, 'maxAge'],
      [{ maxAge: 86_400_000 }, 'maxAge'],
      [{ maxAge: '2y' }, 'maxAge'],
      [{ maxAge: {} }, 'maxAge'],
      [{ immutable: 'yes' }, 'immutable'],
      [{ immutable: true }, 'immutable'],
      [{ cacheControl: 42 }, 'cacheControl'],
      [{ cacheControl: 'max-age=1\r\nX: y' }, 'cacheControl'],
      [{ cacheControl: 'no-cache', maxAge: 10 }, 'cacheControl'],
      [{ cacheControl: false, immutable: true }, 'cacheControl'],
      [{ acceptRanges: 'bytes' }, 'acceptRanges'],
      [{ maxRanges: 0 }, 'maxRanges'],
      [{ maxRanges: 101 }, 'maxRanges'],
      [{ precompressed: 'br' }, 'precompressed'],
      [{ precompressed: [] }, 'precompressed'],
      [{ precompressed: ['deflate'] }, 'precompressed'],
      [{ precompressed: ['br', 'br'] }, 'precompressed'],
      [{ symlinks: true }, 'symlinks'],
      [{ symlinks: 'allow' }, 'symlinks'],
      [{ setHeaders: 'x' }, 'setHeaders'],
      [{ watch: 'yes' }, 'watch'],
      [{ maxEntries: 0 }, 'maxEntries'],
      [{ maxEntries: 1.5 }, 'maxEntries'],
      [{ memoryCache: true }, 'memoryCache'],
      [{ memoryCache: { size: 1 } }, 'memoryCache'],
      [{ memoryCache: { maxSize: -1 } }, 'memoryCache.maxSize'],
      [{ memoryCache: { maxSize: 100, maxFileSize: 200 } }, 'memoryCache.maxFileSize'],
    ]
    for (const [options, name] of cases) {
      const re = new RegExp(`^\\[@shallot/static\\] option "${name.replace('.', '\\.')}"`)
      expect(
        () => serveStatic(dir, options as ServeStaticOptions),
        JSON.stringify(options)
      ).toThrow(re)
    }
  })

  it('should explain that maxAge is in seconds', () => {
    rejects({ maxAge: 86_400_000 }, /in seconds, not milliseconds/)
    expect(parseMaxAge(0)).toBe(0)
    expect(parseMaxAge('30s')).toBe(30)
    expect(parseMaxAge('10m')).toBe(600)
    expect(parseMaxAge('2h')).toBe(7200)
    expect(parseMaxAge('7d')).toBe(604_800)
    expect(parseMaxAge('1w')).toBe(604_800)
    expect(parseMaxAge('1y')).toBe(31_536_000)
  })

  it('should refuse a cacheControl function that returns something else than a string or false', async () => {
    const { serve } = await import('./helpers.js')
    const s = await serve(dir, { cacheControl: () => 42 as never })
    try {
      expect((await s.get('/file.txt')).status).toBe(500)
    } finally {
      await s.close()
    }
  })
})
