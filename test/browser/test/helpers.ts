/// <reference lib="dom" />
// Shared by the browser tests: Chromium, servers on port 0, a server-side log, screenshots.
// The page functions below run in Chromium: they use the DOM types.
import { mkdirSync } from 'node:fs'
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { type Handler, type Middleware, onFinished } from '@shallot/stack'
import { chromiumLaunchOptions, type Listening, listen } from '@shallot/test-utils'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { vi } from 'vitest'

/** Debian's Chromium: root, no network, no browser download. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch(chromiumLaunchOptions())
}

/** Per test: the slowest a browser test may be (launches excluded). */
export const TEST_TIMEOUT = 45_000
/** Per beforeAll/afterAll: launching Chromium on a busy 2-core machine. */
export const HOOK_TIMEOUT = 60_000
/** Every Playwright action and wait (goto, reload, waitFor…, screenshot). */
export const ACTION_TIMEOUT = 10_000
/** Every fetch made by a page (the page functions abort theirs after this). */
export const FETCH_TIMEOUT_MS = 5_000

/**
 * A fresh browser context (its own cookie jar, HTTP cache and preflight cache) with bounded
 * waits. Close it in a `finally`.
 */
export async function newContext(
  browser: Browser
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } })
  context.setDefaultTimeout(ACTION_TIMEOUT)
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT)
  const page = await context.newPage()
  return { context, page }
}

/** Servers of one test file, all closed in its afterAll whatever happened. */
export class Servers {
  private readonly list: Listening[] = []

  async listen(handler: Handler): Promise<Listening> {
    const server = await listen(handler)
    this.list.push(server)
    return server
  }

  async closeAll(): Promise<void> {
    const results = await Promise.allSettled(this.list.splice(0).map((s) => s.close()))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }
}

/** `http://<host>:<port>`: the origin of a server under another name of the loopback. */
export const originOf = (host: 'localhost' | '127.0.0.1', server: Listening): string =>
  `http://${host}:${server.port}`

/** One exchange as the server saw it. */
export interface Exchange {
  method: string
  /** The request target as sent. */
  url: string
  /** The `Origin` request header, if any. */
  origin: string | undefined
  /** The request headers, as they arrived. */
  request: IncomingHttpHeaders
  /** Whether the exchange is over (`status` and `response` are final). */
  done: boolean
  /** The status sent (0 until the exchange is over). */
  status: number
  /**
   * The response headers as they went on the wire, names in lower case, repeated fields
   * joined with `, ` (empty until the exchange is over, or if no head was sent).
   */
  response: Record<string, string>
}

/**
 * The outermost layer of a server under test: appends every request to `log` when it
 * arrives (so a count is never behind what the browser already saw), and fills in the
 * status and headers sent once the exchange is over. A test can then count what reached
 * the server and check what it answered, whatever the browser made of it.
 */
export function recorder(log: Exchange[]): Middleware {
  return (next) =>
    function recorder(req, res) {
      const entry: Exchange = {
        method: req.method ?? '',
        url: req.url ?? '',
        origin: req.headers.origin,
        request: { ...req.headers },
        done: false,
        status: 0,
        response: {},
      }
      log.push(entry)
      onFinished(res, () => {
        entry.status = res.statusCode
        entry.response = sentHeaders(res)
        entry.done = true
      })
      return next(req, res)
    }
}

/**
 * The head as written. `res.getHeaders()` is not enough: `res.writeHead(status, array)`
 * (how @shallot/static sends its precomputed headers) bypasses it, so the head Node
 * serialised is read instead.
 */
function sentHeaders(res: ServerResponse): Record<string, string> {
  const raw = (res as unknown as { _header?: unknown })._header
  const headers: Record<string, string> = {}
  if (typeof raw !== 'string') return headers
  for (const line of raw.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return headers
}

/**
 * Waits (at most 5 s) until every exchange logged so far is over: the browser may have the
 * response a moment before the server's `finish` event ran.
 */
export async function settled(log: Exchange[]): Promise<Exchange[]> {
  await vi.waitFor(
    () => {
      const open = log.filter((e) => !e.done)
      if (open.length > 0) throw new Error(`${open.length} exchange(s) still open`)
    },
    { timeout: 5_000, interval: 20 }
  )
  return log
}

/** The page the tests run their scripts in: an empty document (results are added to it). */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Shallot browser test</title></head>
<body style="font: 15px/1.4 sans-serif; margin: 1.5rem">
<h1>Shallot browser test</h1>
</body>
</html>
`

/** Serves {@link PAGE_HTML} at every path: the page origin (and the disallowed one). */
export const pageHandler: Handler = (_req, res) => {
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  res.end(PAGE_HTML)
}

/**
 * Writes what a test saw into the page's DOM (a banner at the top), so the screenshot
 * shows the result. Works on any document, the demo's (whose CSP allows no inline style
 * attribute: styles are set through the CSSOM) and a plain-text one included.
 */
export async function showResults(page: Page, title: string, lines: string[]): Promise<void> {
  await page.evaluate(
    ({ title, lines }) => {
      const box = document.createElement('section')
      box.id = 'shallot-test-results'
      Object.assign(box.style, {
        border: '3px solid #8e4585',
        padding: '0.75rem 1rem',
        margin: '0 0 1rem',
        background: '#fff',
        color: '#000',
        font: '14px/1.4 monospace',
        whiteSpace: 'pre-wrap',
      })
      const h = document.createElement('strong')
      h.textContent = title
      const pre = document.createElement('div')
      pre.textContent = lines.join('\n')
      box.append(h, pre)
      const body = document.body ?? document.documentElement
      body.prepend(box)
    },
    { title, lines }
  )
}

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url))

/** Saves a screenshot of the page as test-artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true })
}

/** What a page's `fetch` gave: the status and body, or the error it threw. */
export type FetchResult =
  | { ok: true; status: number; body: string }
  | { ok: false; error: string; message: string }

export interface PageFetch {
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
  credentials?: RequestCredentials
}

/**
 * Runs `fetch`es in the page, one after the other, each aborted after
 * {@link FETCH_TIMEOUT_MS}, and reports each one's outcome.
 */
export function fetchInPage(page: Page, requests: PageFetch[]): Promise<FetchResult[]> {
  return page.evaluate(
    async ({ requests, timeout }) => {
      const results: FetchResult[] = []
      for (const r of requests) {
        try {
          const res = await fetch(r.url, {
            method: r.method ?? 'GET',
            headers: r.headers ?? {},
            credentials: r.credentials ?? 'include',
            mode: 'cors',
            ...(r.body === undefined ? {} : { body: r.body }),
            signal: AbortSignal.timeout(timeout),
          })
          results.push({ ok: true, status: res.status, body: await res.text() })
        } catch (err) {
          const e = err as Error
          results.push({ ok: false, error: e.name, message: e.message })
        }
      }
      return results
    },
    { requests, timeout: FETCH_TIMEOUT_MS }
  )
}

/** The response header `name` of an exchange, as sent. */
export const header = (e: Exchange | undefined, name: string): string | undefined =>
  e?.response[name.toLowerCase()]

/** The path of a logged request target. */
export const pathOf = (e: Exchange): string => new URL(e.url, 'http://x').pathname

/**
 * The statuses that came over the wire for each request of a page, from the DevTools
 * protocol (`Network.responseReceivedExtraInfo`). Playwright's `response.status()` is not
 * enough for revalidation: after a 304 it reports the cached 200 the page was given.
 * A request answered from the browser's memory cache has no entry at all.
 */
export async function watchWire(
  context: BrowserContext,
  page: Page
): Promise<(path: string) => number[]> {
  const cdp = await context.newCDPSession(page)
  const urls = new Map<string, string>()
  const statuses = new Map<string, number[]>()
  cdp.on('Network.requestWillBeSent', (e) => {
    if (!urls.has(e.requestId)) urls.set(e.requestId, e.request.url)
  })
  cdp.on('Network.responseReceivedExtraInfo', (e) => {
    const list = statuses.get(e.requestId) ?? []
    list.push(e.statusCode)
    statuses.set(e.requestId, list)
  })
  await cdp.send('Network.enable')
  return (path) =>
    [...urls]
      .filter(([, url]) => new URL(url).pathname === path)
      .flatMap(([id]) => statuses.get(id) ?? [])
}
