/// <reference lib="dom" />
// The page functions below run in Chromium: they use the DOM types.
import { cors } from '@shallot/cors'
import { getSession, MemoryStore, session } from '@shallot/session'
import { type Handler, stack } from '@shallot/stack'
import type { Listening } from '@shallot/test-utils'
import { getTiming, type TimingOptions, timing } from '@shallot/timing'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Exchange,
  FETCH_TIMEOUT_MS,
  HOOK_TIMEOUT,
  header,
  launchChromium,
  newContext,
  originOf,
  pageHandler,
  recorder,
  Servers,
  screenshot,
  settled,
  showResults,
  TEST_TIMEOUT,
} from './helpers.js'

/*
 * Server-Timing as a cross-origin page sees it: PerformanceResourceTiming.serverTiming has
 * the entries only when the response carries a Timing-Allow-Origin that names the page's
 * origin, which @shallot/timing sends with `expose: { origins: [...] }`. With the default
 * `expose: 'always'` the header is on the wire but the browser hides it from the page.
 */

const SECRET = 'browser-tests-timing-secret-0123456789-abcdef'

let browser: Browser
const servers = new Servers()
let pageServer: Listening
/** The page's origin, listed in `expose.origins`. */
let listed: string
/** Another origin of the same page server: CORS allows it, `expose.origins` does not list it. */
let unlisted: string

/** The API: two marks of its own, and a session write, as an application would. */
const api: Handler = async (req, res) => {
  const t = getTiming(req)
  t.start('db', 'users query')
  await new Promise((r) => setTimeout(r, 2))
  t.end('db')
  t.add('cache', { desc: 'miss' })
  const s = getSession<{ n: number }>(req)
  s.set('n', (s.get('n') ?? 0) + 1)
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify({ ok: true }))
}

async function startApi(options: TimingOptions): Promise<{ url: string; log: Exchange[] }> {
  const log: Exchange[] = []
  const app = stack(
    recorder(log),
    timing(options),
    cors({ origin: [listed, unlisted], credentials: true, maxAge: 600 }),
    session({ secret: SECRET, store: new MemoryStore() })
  )(api)
  const server = await servers.listen(app)
  return { url: originOf('127.0.0.1', server), log }
}

interface Seen {
  status: number | string
  /** Whether a PerformanceResourceTiming entry for the URL was found. */
  entry: boolean
  serverTiming: { name: string; duration: number; description: string }[]
}

/** Fetches `url` (credentials: 'include') and reads its resource timing entry. */
function fetchAndReadTiming(page: Page, url: string): Promise<Seen> {
  return page.evaluate(
    async ({ url, timeout }) => {
      let status: number | string
      try {
        const res = await fetch(url, {
          credentials: 'include',
          signal: AbortSignal.timeout(timeout),
        })
        await res.text()
        status = res.status
      } catch (err) {
        status = (err as Error).name
      }
      // The entry is queued once the body is complete: wait for it, at most 2 s.
      const deadline = performance.now() + 2_000
      let entry: PerformanceResourceTiming | undefined
      while (entry === undefined && performance.now() < deadline) {
        entry = performance.getEntriesByName(url, 'resource')[0] as
          | PerformanceResourceTiming
          | undefined
        if (entry === undefined) await new Promise((r) => setTimeout(r, 20))
      }
      return {
        status,
        entry: entry !== undefined,
        serverTiming: (entry?.serverTiming ?? []).map((s) => ({
          name: s.name,
          duration: s.duration,
          description: s.description,
        })),
      }
    },
    { url, timeout: FETCH_TIMEOUT_MS }
  )
}

const describeEntries = (seen: Seen): string =>
  seen.serverTiming.length === 0
    ? '[] (empty)'
    : seen.serverTiming
        .map((s) => `${s.name}${s.description ? ` "${s.description}"` : ''} ${s.duration}ms`)
        .join(', ')

beforeAll(async () => {
  browser = await launchChromium()
  pageServer = await servers.listen(pageHandler)
  listed = originOf('127.0.0.1', pageServer)
  unlisted = originOf('localhost', pageServer)
}, HOOK_TIMEOUT)

afterAll(async () => {
  try {
    await browser?.close()
  } finally {
    await servers.closeAll()
  }
}, HOOK_TIMEOUT)

describe('Server-Timing in PerformanceResourceTiming, cross-origin', () => {
  it(
    'expose: { origins } with the page origin: Timing-Allow-Origin is sent and the page reads the entries',
    async () => {
      const apiServer = await startApi({ expose: { origins: [listed] } })
      const { context, page } = await newContext(browser)
      try {
        await page.goto(`${listed}/`)
        const url = `${apiServer.url}/data`
        const seen = await fetchAndReadTiming(page, url)
        expect(seen.status).toBe(200)
        expect(seen.entry).toBe(true)
        expect(seen.serverTiming.map((s) => s.name)).toEqual(['total', 'db', 'cache'])
        expect(seen.serverTiming.map((s) => s.description)).toEqual(['', 'users query', 'miss'])
        // Durations came through as numbers (not checked against any clock).
        for (const s of seen.serverTiming.slice(0, 2)) expect(s.duration).toBeGreaterThan(0)

        const [exchange] = await settled(apiServer.log)
        expect(header(exchange, 'timing-allow-origin')).toBe(listed)
        expect(header(exchange, 'server-timing')).toMatch(
          /^total;dur=[\d.]+, db;dur=[\d.]+;desc="users query", cache;desc="miss"$/
        )
        expect(header(exchange, 'vary')).toMatch(/\bOrigin\b/)

        await showResults(page, 'Server-Timing readable cross-origin (Timing-Allow-Origin)', [
          `page origin: ${listed}; fetch ${url}`,
          `Timing-Allow-Origin: ${header(exchange, 'timing-allow-origin')}`,
          `PerformanceResourceTiming.serverTiming: ${describeEntries(seen)}`,
        ])
        await screenshot(page, 'server-timing-allowed')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    "expose: 'always' (no Timing-Allow-Origin): the header is on the wire, the page gets no entries",
    async () => {
      const apiServer = await startApi({ expose: 'always' })
      const { context, page } = await newContext(browser)
      try {
        await page.goto(`${listed}/`)
        const url = `${apiServer.url}/data`
        const seen = await fetchAndReadTiming(page, url)
        expect(seen.status).toBe(200)
        expect(seen.entry).toBe(true)
        expect(seen.serverTiming).toEqual([])

        // The server did send the metrics: the browser withheld them from the page.
        const [exchange] = await settled(apiServer.log)
        expect(header(exchange, 'server-timing')).toMatch(/^total;dur=[\d.]+, db;dur=/)
        expect(header(exchange, 'timing-allow-origin')).toBeUndefined()

        await showResults(page, 'Server-Timing hidden cross-origin (no Timing-Allow-Origin)', [
          `page origin: ${listed}; fetch ${url}`,
          `Server-Timing on the wire: ${header(exchange, 'server-timing')}`,
          'Timing-Allow-Origin: (none)',
          `PerformanceResourceTiming.serverTiming: ${describeEntries(seen)}`,
        ])
        await screenshot(page, 'server-timing-not-allowed')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    'expose: { origins } and a page origin not listed: no Server-Timing is sent, the page gets no entries',
    async () => {
      const apiServer = await startApi({ expose: { origins: [listed] } })
      const { context, page } = await newContext(browser)
      try {
        await page.goto(`${unlisted}/`)
        const url = `${apiServer.url}/data`
        const seen = await fetchAndReadTiming(page, url)
        // CORS allows this origin: the fetch itself succeeds.
        expect(seen.status).toBe(200)
        expect(seen.entry).toBe(true)
        expect(seen.serverTiming).toEqual([])

        const [exchange] = await settled(apiServer.log)
        expect(exchange?.origin).toBe(unlisted)
        expect(header(exchange, 'access-control-allow-origin')).toBe(unlisted)
        expect(header(exchange, 'server-timing')).toBeUndefined()
        expect(header(exchange, 'timing-allow-origin')).toBeUndefined()

        await showResults(page, 'Server-Timing not sent to an unlisted origin', [
          `page origin: ${unlisted}; fetch ${url}`,
          'Server-Timing on the wire: (none)',
          `PerformanceResourceTiming.serverTiming: ${describeEntries(seen)}`,
        ])
        await screenshot(page, 'server-timing-unlisted-origin')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )
})
