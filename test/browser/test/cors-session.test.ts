import { cors } from '@shallot/cors'
import { getSession, MemoryStore, type SessionCookieOptions, session } from '@shallot/session'
import { getPath, type Handler, HttpError, stack } from '@shallot/stack'
import type { Listening } from '@shallot/test-utils'
import { timing } from '@shallot/timing'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Exchange,
  type FetchResult,
  fetchInPage,
  HOOK_TIMEOUT,
  header,
  launchChromium,
  newContext,
  originOf,
  pageHandler,
  pathOf,
  recorder,
  Servers,
  screenshot,
  settled,
  showResults,
  TEST_TIMEOUT,
} from './helpers.js'

/*
 * CORS and session cookies as Chromium enforces them, between two loopback origins:
 *
 * - the page origin, one server under two names: http://127.0.0.1:<p> (same site as the
 *   API: cookies of 127.0.0.1 ignore ports) and http://localhost:<p> (another site);
 * - the API origin, http://127.0.0.1:<a>: stack(timing, cors, session) with the page's two
 *   origins allowlisted, credentials on, a preflight maxAge;
 * - a third server, http://127.0.0.1:<o>, serving the same page from an origin the API does
 *   not allow.
 *
 * Each test gets a fresh browser context (cookie jar, HTTP cache, preflight cache) and its
 * own API server (its own log and session store).
 */

const SECRET = 'browser-tests-secret-0123456789-abcdefghij'

let browser: Browser
const servers = new Servers()
let pageServer: Listening
let otherServer: Listening
/** The page under the API's own site: same-site, cross-origin. */
let sameSite: string
/** The page under the other name of the loopback: cross-site. */
let crossSite: string
/** The third server: an origin the API does not allow. */
let disallowed: string

/** The API: `/count` counts the session's requests, `PUT /item` takes a custom header. */
const api: Handler = async (req, res) => {
  const path = getPath(req)
  const send = (body: unknown) => {
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify(body))
  }
  if (path === '/count' && req.method === 'GET') {
    const s = getSession<{ count: number }>(req)
    const count = (s.get('count') ?? 0) + 1
    s.set('count', count)
    return send({ count })
  }
  if (path.startsWith('/item') && req.method === 'PUT') {
    let body = ''
    for await (const chunk of req) body += chunk
    return send({ put: path, header: req.headers['x-shallot-test'] ?? null, body })
  }
  throw new HttpError(404, 'Not found')
}

interface ApiSetup {
  /** The session cookie's attributes (the package's defaults when absent). */
  cookie?: SessionCookieOptions
  /** `Access-Control-Max-Age`, seconds. */
  maxAge?: number
}

/** Starts an API server of its own, with a fresh log and session store. */
async function startApi(setup: ApiSetup = {}): Promise<{ url: string; log: Exchange[] }> {
  const log: Exchange[] = []
  const app = stack(
    recorder(log),
    timing(),
    cors({ origin: [sameSite, crossSite], credentials: true, maxAge: setup.maxAge ?? 600 }),
    session({
      secret: SECRET,
      store: new MemoryStore(),
      ...(setup.cookie === undefined ? {} : { cookie: setup.cookie }),
    })
  )(api)
  const server = await servers.listen(app)
  return { url: originOf('127.0.0.1', server), log }
}

/** The flag-like attributes of a `sid` Set-Cookie, sorted (not Max-Age, Path, Expires). */
function cookieAttributes(setCookie: string | undefined): string[] {
  const [pair, ...attributes] = (setCookie ?? '').split('; ')
  expect(pair).toMatch(/^sid=[\w-]+\.[\w-]+$/)
  return attributes.filter((a) => !/^(Max-Age|Path|Expires)=/.test(a)).sort()
}

const statuses = (results: FetchResult[]): (number | string)[] =>
  results.map((r) => (r.ok ? r.status : r.error))

const counts = (results: FetchResult[]): (number | string)[] =>
  results.map((r) => (r.ok ? (JSON.parse(r.body) as { count: number }).count : r.error))

beforeAll(async () => {
  browser = await launchChromium()
  pageServer = await servers.listen(pageHandler)
  otherServer = await servers.listen(pageHandler)
  sameSite = originOf('127.0.0.1', pageServer)
  crossSite = originOf('localhost', pageServer)
  disallowed = originOf('127.0.0.1', otherServer)
}, HOOK_TIMEOUT)

afterAll(async () => {
  try {
    await browser?.close()
  } finally {
    await servers.closeAll()
  }
}, HOOK_TIMEOUT)

describe('credentialed CORS with a session cookie', () => {
  it(
    'same site (127.0.0.1 → 127.0.0.1, another port): the SameSite=Lax session cookie round-trips',
    async () => {
      const apiServer = await startApi()
      const { context, page: tab } = await newContext(browser)
      try {
        await tab.goto(`${sameSite}/`)
        const results = await fetchInPage(tab, [
          { url: `${apiServer.url}/count` },
          { url: `${apiServer.url}/count` },
          { url: `${apiServer.url}/count` },
        ])
        // Readable cross-origin (CORS allowed it) and the same session each time.
        expect(statuses(results)).toEqual([200, 200, 200])
        expect(counts(results)).toEqual([1, 2, 3])

        // What the server saw: the cookie came back from the second request on.
        const log = (await settled(apiServer.log)).filter((e) => pathOf(e) === '/count')
        expect(log.map((e) => e.origin)).toEqual([sameSite, sameSite, sameSite])
        // Cross-origin, but the same site: what the browser says, and why Lax is enough.
        expect(log.map((e) => e.request['sec-fetch-site'])).toEqual([
          'same-site',
          'same-site',
          'same-site',
        ])
        expect(log[0]?.request.cookie).toBeUndefined()
        expect(log[1]?.request.cookie).toMatch(/^sid=/)
        expect(log[2]?.request.cookie).toBe(log[1]?.request.cookie)
        expect(header(log[0], 'access-control-allow-origin')).toBe(sameSite)
        expect(header(log[0], 'access-control-allow-credentials')).toBe('true')
        expect(cookieAttributes(header(log[0], 'set-cookie'))).toEqual(['HttpOnly', 'SameSite=Lax'])

        // The cookie is in the jar for 127.0.0.1 (any port), HttpOnly: the page cannot read it.
        const jar = await context.cookies(apiServer.url)
        expect(jar.map((c) => [c.name, c.sameSite, c.httpOnly])).toEqual([['sid', 'Lax', true]])
        expect(await tab.evaluate(() => document.cookie)).not.toContain('sid=')

        await showResults(tab, 'Credentialed cross-origin fetch, same site', [
          `page origin: ${sameSite}`,
          `API: ${apiServer.url}/count (credentials: 'include')`,
          `counts seen by the page: ${counts(results).join(', ')}`,
          `Set-Cookie: ${header(log[0], 'set-cookie')}`,
          `Cookie on request 2: ${log[1]?.request.cookie?.slice(0, 16)}…`,
        ])
        await screenshot(tab, 'cors-credentials-same-site')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    'cross site (localhost → 127.0.0.1): a SameSite=None; Secure; Partitioned session cookie round-trips',
    async () => {
      const apiServer = await startApi({
        cookie: { sameSite: 'none', secure: true, partitioned: true },
      })
      const { context, page: tab } = await newContext(browser)
      try {
        await tab.goto(`${crossSite}/`)
        const results = await fetchInPage(tab, [
          { url: `${apiServer.url}/count` },
          { url: `${apiServer.url}/count` },
          { url: `${apiServer.url}/count` },
        ])
        expect(statuses(results)).toEqual([200, 200, 200])
        expect(counts(results)).toEqual([1, 2, 3])

        const log = (await settled(apiServer.log)).filter((e) => pathOf(e) === '/count')
        expect(log.map((e) => e.origin)).toEqual([crossSite, crossSite, crossSite])
        // A cross-site request: the browser says so, and the cookie still came back.
        expect(log.map((e) => e.request['sec-fetch-site'])).toEqual([
          'cross-site',
          'cross-site',
          'cross-site',
        ])
        expect(log[0]?.request.cookie).toBeUndefined()
        expect(log[1]?.request.cookie).toMatch(/^sid=/)
        expect(log[2]?.request.cookie).toBe(log[1]?.request.cookie)
        expect(header(log[0], 'access-control-allow-origin')).toBe(crossSite)
        expect(cookieAttributes(header(log[0], 'set-cookie'))).toEqual([
          'HttpOnly',
          'Partitioned',
          'SameSite=None',
          'Secure',
        ])

        await showResults(tab, 'Credentialed cross-origin fetch, cross site', [
          `page origin: ${crossSite}`,
          `API: ${apiServer.url}/count (credentials: 'include')`,
          `counts seen by the page: ${counts(results).join(', ')}`,
          `Set-Cookie: ${header(log[0], 'set-cookie')}`,
          `Sec-Fetch-Site: ${log[0]?.request['sec-fetch-site']}`,
        ])
        await screenshot(tab, 'cors-credentials-cross-site')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    'cross site with the default SameSite=Lax cookie: the fetch is readable but the session does not round-trip',
    async () => {
      // The control for the test above: localhost and 127.0.0.1 really are two sites, so a
      // cross-site API needs SameSite=None (and Chromium wants it Partitioned, see README).
      const apiServer = await startApi()
      const { context, page: tab } = await newContext(browser)
      try {
        await tab.goto(`${crossSite}/`)
        const results = await fetchInPage(tab, [
          { url: `${apiServer.url}/count` },
          { url: `${apiServer.url}/count` },
        ])
        expect(statuses(results)).toEqual([200, 200])
        expect(counts(results)).toEqual([1, 1])
        const log = (await settled(apiServer.log)).filter((e) => pathOf(e) === '/count')
        expect(log).toHaveLength(2)
        expect(cookieAttributes(header(log[0], 'set-cookie'))).toContain('SameSite=Lax')
        expect(log.map((e) => e.request.cookie)).toEqual([undefined, undefined])

        await showResults(tab, 'Cross site, SameSite=Lax: no session', [
          `page origin: ${crossSite}`,
          `counts seen by the page: ${counts(results).join(', ')}`,
          'Cookie sent back: never',
        ])
        await screenshot(tab, 'cors-credentials-cross-site-lax')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    'a disallowed origin cannot read the answer, although the server answered it',
    async () => {
      const apiServer = await startApi()
      const { context, page: tab } = await newContext(browser)
      try {
        await tab.goto(`${disallowed}/`)
        const [simple, preflighted] = await fetchInPage(tab, [
          { url: `${apiServer.url}/count` },
          {
            url: `${apiServer.url}/item/refused`,
            method: 'PUT',
            headers: { 'X-Shallot-Test': 'yes' },
            body: 'x',
          },
        ])
        // The browser refuses both: the page sees a TypeError, never the body.
        expect(simple).toMatchObject({ ok: false, error: 'TypeError' })
        expect(preflighted).toMatchObject({ ok: false, error: 'TypeError' })

        // Only the two paths this test asks for: a fresh server can still receive strays from
        // another process's client polling whoever had its port before (seen once in CI).
        const log = (await settled(apiServer.log)).filter(
          (e) => pathOf(e) === '/count' || pathOf(e) === '/item/refused'
        )
        // The simple GET reached the application and was answered with 200 and a body,
        // without any CORS header but `Vary: Origin`.
        const get = log.filter((e) => e.method === 'GET')
        expect(get).toHaveLength(1)
        expect(get[0]?.origin).toBe(disallowed)
        expect(get[0]?.status).toBe(200)
        expect(header(get[0], 'access-control-allow-origin')).toBeUndefined()
        expect(header(get[0], 'access-control-allow-credentials')).toBeUndefined()
        expect(header(get[0], 'vary')).toMatch(/\bOrigin\b/)
        // The preflight was answered without CORS headers, so the PUT itself was never sent.
        const options = log.filter((e) => e.method === 'OPTIONS')
        expect(options).toHaveLength(1)
        expect(options[0]?.status).toBe(204)
        expect(header(options[0], 'access-control-allow-origin')).toBeUndefined()
        expect(header(options[0], 'access-control-allow-methods')).toBeUndefined()
        expect(log.filter((e) => e.method === 'PUT')).toEqual([])

        await showResults(tab, 'Disallowed origin: blocked by the browser', [
          `page origin: ${disallowed} (not in the allowlist)`,
          `GET /count: page saw ${simple?.ok ? 'a response' : `${simple?.error}: ${simple?.message}`}; server answered ${get[0]?.status}`,
          `PUT /item/refused: page saw ${preflighted?.ok ? 'a response' : `${preflighted?.error}: ${preflighted?.message}`}; server saw only the preflight (${options[0]?.status})`,
        ])
        await screenshot(tab, 'cors-disallowed-origin')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )
})

describe('preflight cache', () => {
  const put = (url: string) => ({
    url,
    method: 'PUT',
    headers: { 'X-Shallot-Test': 'preflight', 'Content-Type': 'text/plain' },
    body: 'hello',
  })

  it(
    'a second identical PUT within maxAge is not preflighted, even after the 5 s default cache',
    async () => {
      const apiServer = await startApi({ maxAge: 600 })
      const { context, page: tab } = await newContext(browser)
      try {
        await tab.goto(`${sameSite}/`)
        const url = `${apiServer.url}/item/cached`
        const [first] = await fetchInPage(tab, [put(url)])
        expect(first).toMatchObject({ ok: true, status: 200 })
        expect(JSON.parse(first?.ok ? first.body : '{}')).toEqual({
          put: '/item/cached',
          header: 'preflight',
          body: 'hello',
        })
        // Without Access-Control-Max-Age Chromium keeps a preflight for 5 s: wait past that,
        // so only the server's maxAge can explain a second PUT without a preflight.
        await new Promise((r) => setTimeout(r, 6_000))
        const [second] = await fetchInPage(tab, [put(url)])
        expect(second).toMatchObject({ ok: true, status: 200 })

        const log = (await settled(apiServer.log)).filter((e) => pathOf(e) === '/item/cached')
        const options = log.filter((e) => e.method === 'OPTIONS')
        const puts = log.filter((e) => e.method === 'PUT')
        expect(puts).toHaveLength(2)
        expect(options).toHaveLength(1)
        const preflight = options[0]
        expect(preflight?.request['access-control-request-method']).toBe('PUT')
        expect(preflight?.request['access-control-request-headers']).toBe('x-shallot-test')
        expect(preflight?.status).toBe(204)
        expect(header(preflight, 'access-control-max-age')).toBe('600')
        expect(header(preflight, 'access-control-allow-origin')).toBe(sameSite)
        expect(header(preflight, 'access-control-allow-credentials')).toBe('true')
        expect(header(preflight, 'access-control-allow-methods')).toMatch(/\bPUT\b/)
        expect(header(preflight, 'access-control-allow-headers')).toBe('x-shallot-test')
        // The preflight stopped at cors(): the session layer and the handler never saw it.
        expect(header(preflight, 'set-cookie')).toBeUndefined()

        await showResults(tab, 'Preflight cached for maxAge', [
          `page origin: ${sameSite}`,
          `PUT ${url} with X-Shallot-Test, twice, 6 s apart`,
          `results: ${first?.ok ? first.status : 'failed'}, ${second?.ok ? second.status : 'failed'}`,
          `server saw: ${options.length} OPTIONS (Access-Control-Max-Age: ${header(preflight, 'access-control-max-age')}), ${puts.length} PUT`,
        ])
        await screenshot(tab, 'cors-preflight-cached')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )

  it(
    'with maxAge 0 every PUT is preflighted (the count above can see a second preflight)',
    async () => {
      const apiServer = await startApi({ maxAge: 0 })
      const { context, page: tab } = await newContext(browser)
      try {
        await tab.goto(`${sameSite}/`)
        const url = `${apiServer.url}/item/uncached`
        const results = await fetchInPage(tab, [put(url), put(url)])
        expect(statuses(results)).toEqual([200, 200])
        const log = (await settled(apiServer.log)).filter((e) => pathOf(e) === '/item/uncached')
        const options = log.filter((e) => e.method === 'OPTIONS')
        expect(options).toHaveLength(2)
        expect(log.filter((e) => e.method === 'PUT')).toHaveLength(2)
        expect(header(options[0], 'access-control-max-age')).toBe('0')
        // In the order the browser sent them: preflight, PUT, preflight, PUT.
        expect(log.map((e) => e.method)).toEqual(['OPTIONS', 'PUT', 'OPTIONS', 'PUT'])

        await showResults(tab, 'maxAge 0: no preflight cache', [
          `page origin: ${sameSite}`,
          `PUT ${url} twice`,
          `server saw: ${log.map((e) => e.method).join(', ')}`,
        ])
        await screenshot(tab, 'cors-preflight-max-age-0')
      } finally {
        await context.close()
      }
    },
    TEST_TIMEOUT
  )
})
