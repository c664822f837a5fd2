import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// The demo's source: the package builds no type declarations (examples/demo/tsconfig.json).
import { createApp } from '@shallot/example-demo/src/app.ts'
import { MemoryStore } from '@shallot/session'
import { type Handler, stack } from '@shallot/stack'
import { type ServeStaticOptions, type StaticMiddleware, serveStatic } from '@shallot/static'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Exchange,
  HOOK_TIMEOUT,
  header,
  launchChromium,
  newContext,
  pathOf,
  recorder,
  Servers,
  screenshot,
  settled,
  showResults,
  TEST_TIMEOUT,
  watchWire,
} from './helpers.js'

/*
 * The demo (examples/demo, createApp) and @shallot/static in Chromium: the visit counter
 * rises across reloads (the session cookie round-trips on navigations), and a reload
 * revalidates files with If-None-Match and gets a 304.
 */

/** Bounded polls of what the DevTools protocol reported. */
const POLL = { timeout: 5_000, interval: 50 }

let browser: Browser
const servers = new Servers()
const staticLayers: StaticMiddleware[] = []
let site: string

beforeAll(async () => {
  browser = await launchChromium()
  // A small site for @shallot/static: a page and the stylesheet it links.
  site = mkdtempSync(join(tmpdir(), 'shallot-browser-static-'))
  writeFileSync(
    join(site, 'index.html'),
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>static</title>' +
      '<link rel="stylesheet" href="/style.css"></head><body><h1>A static page</h1></body></html>\n'
  )
  writeFileSync(join(site, 'style.css'), 'h1 { color: #8e4585; }\n')
}, HOOK_TIMEOUT)

afterAll(async () => {
  try {
    await browser?.close()
  } finally {
    for (const layer of staticLayers) layer.close()
    await servers.closeAll()
    if (site !== undefined) rmSync(site, { recursive: true, force: true })
  }
}, HOOK_TIMEOUT)

/** The demo app behind a recorder, on its own server, with its own session store. */
async function startDemo(): Promise<{ url: string; log: Exchange[] }> {
  const log: Exchange[] = []
  const demo = createApp({
    sessionSecret: 'browser-tests-demo-secret-0123456789-abcdef',
    sessionStore: new MemoryStore(),
  })
  const server = await servers.listen(stack(recorder(log))(demo))
  return { url: server.url, log }
}

/** The static site behind a recorder, with `options`. */
async function startStatic(options: ServeStaticOptions): Promise<{ url: string; log: Exchange[] }> {
  const log: Exchange[] = []
  const layer = serveStatic(site, options)
  staticLayers.push(layer)
  const notFound: Handler = (_req, res) => {
    res.statusCode = 404
    res.end('Not found\n')
  }
  const server = await servers.listen(stack(recorder(log), layer)(notFound))
  return { url: server.url, log }
}

describe('the demo: visit counter', () => {
  it(
    'rises across page reloads (the session cookie comes back on each navigation)',
    async () => {
      const demo = await startDemo()
      const { context, page } = await newContext(browser)
      try {
        const visits = async () => {
          const text = await page.locator('p.visits').textContent({ timeout: 5_000 })
          const m = /You have visited this page (\d+) times?\./.exec(text ?? '')
          return m === null ? `unexpected: ${text}` : Number(m[1])
        }
        const response = await page.goto(`${demo.url}/`)
        expect(response?.status()).toBe(200)
        const seen = [await visits()]
        for (let i = 0; i < 2; i++) {
          const again = await page.reload()
          expect(again?.status()).toBe(200)
          seen.push(await visits())
        }
        expect(seen).toEqual([1, 2, 3])

        const home = (await settled(demo.log)).filter((e) => pathOf(e) === '/')
        expect(home).toHaveLength(3)
        expect(home[0]?.request.cookie).toBeUndefined()
        expect(home[1]?.request.cookie).toMatch(/(^|; )sid=/)
        const jar = await context.cookies(demo.url)
        expect(jar.map((c) => [c.name, c.sameSite, c.httpOnly])).toEqual([['sid', 'Lax', true]])

        await showResults(page, 'Demo visit counter across reloads', [
          `${demo.url}/ loaded, then page.reload() twice`,
          `counter read from the page: ${seen.join(', ')}`,
          `Cookie on the second request: ${home[1]?.request.cookie?.slice(0, 16)}…`,
        ])
        await screenshot(page, 'demo-visit-counter')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )
})

describe('revalidation on reload', () => {
  it(
    "the demo's /static/hello.txt, opened directly: a reload sends If-None-Match and gets a 304",
    async () => {
      const demo = await startDemo()
      const { context, page } = await newContext(browser)
      try {
        const wire = await watchWire(context, page)
        const url = `${demo.url}/static/hello.txt`
        const first = await page.goto(url)
        expect(first?.status()).toBe(200)
        const text = await page.locator('body').textContent()
        expect(text).toContain('Hello from the Shallot demo')
        await page.reload()
        await page.reload()
        // The page still shows the file: the browser's cached copy, confirmed by the 304s.
        expect(await page.locator('body').textContent()).toBe(text)

        const log = (await settled(demo.log)).filter((e) => pathOf(e) === '/static/hello.txt')
        const etag = header(log[0], 'etag')
        const lastModified = header(log[0], 'last-modified')
        expect(etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/)
        expect(header(log[0], 'cache-control')).toBe('max-age=60')
        expect(log.map((e) => e.status)).toEqual([200, 304, 304])
        expect(log[0]?.request['if-none-match']).toBeUndefined()
        for (const e of log.slice(1)) {
          expect(e.request['if-none-match']).toBe(etag)
          expect(e.request['if-modified-since']).toBe(lastModified)
          expect(header(e, 'etag')).toBe(etag)
        }
        // The browser's side: the 304s came over the wire (Playwright's response.status()
        // would say 200, the cached response the page was given).
        await expect.poll(() => wire('/static/hello.txt'), POLL).toEqual([200, 304, 304])

        await showResults(page, 'Reload revalidates: 304', [
          `${url} loaded, then page.reload() twice`,
          `server statuses: ${log.map((e) => e.status).join(', ')}`,
          `If-None-Match sent on reload: ${log[1]?.request['if-none-match']}`,
          `If-Modified-Since sent on reload: ${log[1]?.request['if-modified-since']}`,
        ])
        await screenshot(page, 'static-demo-revalidated')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    '@shallot/static with Cache-Control: no-cache: a reload revalidates the page and its stylesheet (304s)',
    async () => {
      const server = await startStatic({ cacheControl: 'no-cache' })
      const { context, page } = await newContext(browser)
      try {
        const wire = await watchWire(context, page)
        await page.goto(`${server.url}/`)
        await page.reload()
        const color = await page.evaluate(
          () => getComputedStyle(document.querySelector('h1')!).color
        )
        expect(color).toBe('rgb(142, 69, 133)')

        const log = await settled(server.log)
        const css = log.filter((e) => pathOf(e) === '/style.css')
        const html = log.filter((e) => pathOf(e) === '/')
        expect(html.map((e) => e.status)).toEqual([200, 304])
        expect(css.map((e) => e.status)).toEqual([200, 304])
        expect(header(css[0], 'cache-control')).toBe('no-cache')
        expect(css[1]?.request['if-none-match']).toBe(header(css[0], 'etag'))
        expect(html[1]?.request['if-none-match']).toBe(header(html[0], 'etag'))
        await expect.poll(() => wire('/style.css'), POLL).toEqual([200, 304])
        await expect.poll(() => wire('/'), POLL).toEqual([200, 304])

        await showResults(page, 'no-cache: page and stylesheet revalidated on reload', [
          `${server.url}/ loaded, then page.reload()`,
          `/ statuses: ${html.map((e) => e.status).join(', ')}`,
          `/style.css statuses: ${css.map((e) => e.status).join(', ')} (If-None-Match: ${css[1]?.request['if-none-match']})`,
        ])
        await screenshot(page, 'static-no-cache-revalidated')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    '@shallot/static with max-age=60: a reload revalidates the page but takes the fresh stylesheet from the cache',
    async () => {
      // Why the test above uses no-cache: Chromium's normal reload revalidates the main
      // resource only; a subresource still fresh by its max-age is not requested at all.
      const server = await startStatic({ maxAge: 60 })
      const { context, page } = await newContext(browser)
      try {
        const wire = await watchWire(context, page)
        await page.goto(`${server.url}/`)
        await page.reload()
        const color = await page.evaluate(
          () => getComputedStyle(document.querySelector('h1')!).color
        )
        expect(color).toBe('rgb(142, 69, 133)')

        const log = await settled(server.log)
        const css = log.filter((e) => pathOf(e) === '/style.css')
        const html = log.filter((e) => pathOf(e) === '/')
        expect(header(css[0], 'cache-control')).toBe('max-age=60')
        expect(html.map((e) => e.status)).toEqual([200, 304])
        expect(css.map((e) => e.status)).toEqual([200])
        await expect.poll(() => wire('/'), POLL).toEqual([200, 304])
        expect(wire('/style.css')).toEqual([200])

        await showResults(page, 'max-age=60: stylesheet served from cache on reload', [
          `${server.url}/ loaded, then page.reload()`,
          `/ statuses: ${html.map((e) => e.status).join(', ')}`,
          `/style.css statuses: ${css.map((e) => e.status).join(', ')} (not requested on reload)`,
        ])
        await screenshot(page, 'static-max-age-cached')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )
})
