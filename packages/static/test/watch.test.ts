import { mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { resolveOptions } from '../src/options.js'
import { FileIndex } from '../src/tree.js'
import { fixture, type Served, serve, waitFor } from './helpers.js'

failOnUnhandledRejections()

async function status(s: Served, path: string): Promise<number> {
  return (await s.get(path)).status
}

describe('static: the index follows the disk (watch: true)', () => {
  it('should serve a file added after start-up', async () => {
    const f = fixture({ 'a.txt': 'a' })
    const s = await serve(f.root, { fallthrough: false })
    try {
      expect(await status(s, '/new.txt')).toBe(404)
      f.write('new.txt', 'fresh')
      await waitFor(async () => (await s.get('/new.txt')).text === 'fresh', 5000, 'new file')
      // and in a new directory
      f.write('sub/deeper/n.txt', 'deep')
      await waitFor(async () => (await s.get('/sub/deeper/n.txt')).text === 'deep', 5000, 'new dir')
    } finally {
      await s.close()
      f.cleanup()
    }
  })

  it('should see a changed file: new ETag, new body, also for HEAD and the memory cache', async () => {
    const f = fixture({ 'c.txt': 'version 1' })
    utimesSync(join(f.root, 'c.txt'), new Date('2024-01-01'), new Date('2024-01-01'))
    const s = await serve(f.root, { fallthrough: false })
    try {
      const first = await s.get('/c.txt')
      expect(first.text).toBe('version 1')
      // served from memory now
      expect((await s.get('/c.txt')).text).toBe('version 1')
      f.write('c.txt', 'version 2, longer')
      await waitFor(
        async () => (await s.get('/c.txt', {}, 'HEAD')).headers.etag !== first.headers.etag,
        5000,
        'new ETag on HEAD'
      )
      const second = await s.get('/c.txt')
      expect(second.text).toBe('version 2, longer')
      expect(second.headers['content-length']).toBe('17')
      expect(
        (await s.get('/c.txt', { 'if-none-match': first.headers.etag as string })).status
      ).toBe(200)
    } finally {
      await s.close()
      f.cleanup()
    }
  })

  it('should see every atomic replace (write to a temporary file, rename over)', async () => {
    const f = fixture({ 'site/page.html': 'v0' })
    const s = await serve(f.root, { fallthrough: false })
    try {
      let etag = (await s.get('/site/page.html')).headers.etag
      for (let v = 1; v <= 3; v++) {
        const text = `version ${v}`.padEnd(10 + v, '.')
        writeFileSync(join(f.root, 'site', '.page.tmp'), text)
        renameSync(join(f.root, 'site', '.page.tmp'), join(f.root, 'site', 'page.html'))
        await waitFor(
          async () => (await s.get('/site/page.html', {}, 'HEAD')).headers.etag !== etag,
          5000,
          `replace ${v}`
        )
        const r = await s.get('/site/page.html')
        expect(r.text).toBe(text)
        etag = r.headers.etag
      }
    } finally {
      await s.close()
      f.cleanup()
    }
  })

  it('should watch directories created or moved in after start-up', async () => {
    const f = fixture({ 'a.txt': 'a' }, { 'elsewhere/tree/deep/x.txt': 'x1' })
    const index = new FileIndex(f.root, resolveOptions({}))
    index.start()
    try {
      expect(index.watchedDirs).toBe(1)
      renameSync(join(f.base, 'elsewhere', 'tree'), join(f.root, 'tree'))
      await waitFor(() => index.watchedDirs === 3, 5000, 'the moved-in directories to be watched')
      const first = await index.lookup('tree/deep/x.txt')
      expect(first?.kind).toBe('file')
      // Trusted without a stat: the watcher of tree/deep will report a change.
      expect(index.peek('tree/deep/x.txt')).toBe(first)
      writeFileSync(join(f.root, 'tree', 'deep', 'x.txt'), 'x2, changed')
      await waitFor(() => index.peek('tree/deep/x.txt') !== first, 5000, 'the entry to be dropped')
      rmSync(join(f.root, 'tree'), { recursive: true })
      await waitFor(() => index.watchedDirs === 1, 5000, 'the removed directories to be unwatched')
    } finally {
      index.close()
      f.cleanup()
    }
  })

  it('should stop serving a deleted file, and a moved directory', async () => {
    const f = fixture({ 'gone.txt': 'bye', 'dir/in.txt': 'inside' })
    const s = await serve(f.root, { fallthrough: false })
    try {
      expect(await status(s, '/gone.txt')).toBe(200)
      expect(await status(s, '/dir/in.txt')).toBe(200)
      rmSync(join(f.root, 'gone.txt'))
      await waitFor(async () => (await status(s, '/gone.txt')) === 404, 5000, 'deleted file')
      renameSync(join(f.root, 'dir'), join(f.root, 'moved'))
      await waitFor(async () => (await status(s, '/dir/in.txt')) === 404, 5000, 'moved dir')
      expect((await s.get('/moved/in.txt')).text).toBe('inside')
    } finally {
      await s.close()
      f.cleanup()
    }
  })

  it('should pick up a precompressed sibling added later', async () => {
    const f = fixture({ 'app.js': 'let a = 1' })
    const s = await serve(f.root, { precompressed: true })
    try {
      expect(
        (await s.get('/app.js', { 'accept-encoding': 'gzip' })).headers['content-encoding']
      ).toBeUndefined()
      f.write('app.js.gz', gzipSync('let a = 1'))
      await waitFor(
        async () =>
          (await s.get('/app.js', { 'accept-encoding': 'gzip' })).headers['content-encoding'] ===
          'gzip',
        5000,
        'the gzip sibling'
      )
    } finally {
      await s.close()
      f.cleanup()
    }
  })

  it('should serve a large file that changed before the watcher said so, never a wrong length', async () => {
    const f = fixture({ 'big.bin': Buffer.alloc(300_000, 1) })
    const s = await serve(f.root, { fallthrough: false })
    try {
      expect((await s.get('/big.bin')).body.length).toBe(300_000)
      // Change it and ask at once: either the old entry is still trusted (then the open
      // notices the change) or the watcher already dropped it. Both give the new file.
      writeFileSync(join(f.root, 'big.bin'), Buffer.alloc(150_000, 2))
      const r = await s.get('/big.bin')
      expect(r.status).toBe(200)
      expect(r.body.length).toBe(150_000)
      expect(r.headers['content-length']).toBe('150000')
      expect(r.body.every((b) => b === 2)).toBe(true)
    } finally {
      await s.close()
      f.cleanup()
    }
  })
})

describe('static: watch: false checks each request with stat', () => {
  it('should see additions, changes and deletions at once', async () => {
    const f = fixture({ 'a.txt': 'one' })
    const s = await serve(f.root, { fallthrough: false, watch: false })
    try {
      const a = await s.get('/a.txt')
      expect(a.text).toBe('one')
      f.write('b.txt', 'two')
      expect((await s.get('/b.txt')).text).toBe('two')
      f.write('a.txt', 'one, changed')
      utimesSync(join(f.root, 'a.txt'), new Date('2030-01-01'), new Date('2030-01-01'))
      const changed = await s.get('/a.txt', {}, 'HEAD')
      expect(changed.headers.etag).not.toBe(a.headers.etag)
      expect((await s.get('/a.txt')).text).toBe('one, changed')
      rmSync(join(f.root, 'b.txt'))
      expect(await status(s, '/b.txt')).toBe(404)
    } finally {
      await s.close()
      f.cleanup()
    }
  })
})

describe('static: bounds', () => {
  it('should serve every file with a tiny index and memory cache', async () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 30; i++) files[`f${i}.txt`] = `file ${i} `.repeat(i + 1)
    const f = fixture(files)
    const s = await serve(f.root, {
      maxEntries: 5,
      memoryCache: { maxFileSize: 100, maxSize: 250 },
    })
    try {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 30; i++) {
          expect((await s.get(`/f${i}.txt`)).text).toBe(files[`f${i}.txt`])
        }
      }
    } finally {
      await s.close()
      f.cleanup()
    }
  })

  it('should keep the index, the misses and the memory cache within their limits', async () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 50; i++) files[`f${i}.txt`] = 'x'.repeat(60)
    const f = fixture(files)
    const index = new FileIndex(
      f.root,
      resolveOptions({ maxEntries: 20, memoryCache: { maxFileSize: 100, maxSize: 250 } })
    )
    index.start()
    try {
      expect(index.size).toBe(20)
      for (let i = 0; i < 50; i++) {
        const e = await index.lookup(`f${i}.txt`)
        expect(e?.kind).toBe('file')
        if (e?.kind === 'file') index.keepBody(e, Buffer.alloc(60))
        expect(index.size).toBeLessThanOrEqual(20)
        expect(index.cachedBytes).toBeLessThanOrEqual(250)
      }
      expect(index.cachedBytes).toBeGreaterThan(0)
      for (let i = 0; i < 12_000; i++) await index.lookup(`missing-${i}`)
      expect(index.missCount).toBeLessThanOrEqual(10_000)
    } finally {
      index.close()
      f.cleanup()
    }
  })

  it('should fall back to stat on every request when the watcher fails', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const f = fixture({ 'a.txt': 'a' })
    const o = resolveOptions({})
    const index = new FileIndex(f.root, o)
    index.start()
    try {
      expect(index.watching).toBe(true)
      expect(index.peek('a.txt')).not.toBe(0)
      index.failWatcher(Object.assign(new Error('too many watches'), { code: 'ENOSPC' }))
      expect(index.watching).toBe(false)
      expect(warn).toHaveBeenCalledWith(
        expect.stringMatching(/file watcher failed \(ENOSPC\)/),
        'ShallotStaticWarning'
      )
      expect(index.peek('a.txt')).toBe(0)
      mkdirSync(join(f.root, 'n'))
      writeFileSync(join(f.root, 'n', 'b.txt'), 'b')
      expect((await index.lookup('n/b.txt'))?.kind).toBe('file')
    } finally {
      index.close()
      warn.mockRestore()
      f.cleanup()
    }
  })
})
