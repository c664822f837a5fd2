/// <reference lib="dom" />
// The page functions below run in Chromium: they use the DOM types.
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { mount, stack } from '@shallot/stack'
import { chromiumLaunchOptions, type Listening, listen } from '@shallot/test-utils'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { monitoring } from '../src/index.js'

/*
 * The dashboard in real headless Chromium, while traffic runs: the charts fill, the page
 * logs no error and the browser reports no CSP violation. The screenshot is kept at
 * test-artifacts/dashboard.png (not published: `files` in package.json lists dist and src).
 */
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url))
const BROWSER_TIMEOUT = 45_000

let browser: Browser
let server: Listening
let traffic: NodeJS.Timeout | undefined

beforeAll(async () => {
  browser = await chromium.launch(chromiumLaunchOptions())
  // Mounted under a prefix, to show that the page polls the stats next to itself.
  const mon = monitoring({ endpoints: false })
  let n = 0
  server = await listen(
    stack(
      { onError: () => {} },
      mon,
      mount('/ops', mon.endpoints())
    )(async (_req, res) => {
      n++
      if (n % 10 === 0) throw new Error('one in ten fails')
      await new Promise((r) => setTimeout(r, n % 7))
      res.end('ok')
    })
  )
}, BROWSER_TIMEOUT)

afterAll(async () => {
  if (traffic !== undefined) clearInterval(traffic)
  await browser?.close()
  await server?.close()
})

describe('monitoring: the dashboard in Chromium', () => {
  it(
    'should draw request rate, error rate and latency from live stats, without errors or CSP violations',
    async () => {
      // Traffic while the page is open: a few requests every 50 ms.
      let i = 0
      traffic = setInterval(() => {
        for (let k = 0; k < 4; k++) {
          fetch(`${server.url}/api/items/${i++}`).then(
            (r) => r.arrayBuffer(),
            () => {}
          )
        }
      }, 50)

      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const problems: string[] = []
      page.on('console', (msg) => {
        if (msg.type() === 'error' || msg.type() === 'warning')
          problems.push(`console ${msg.type()}: ${msg.text()}`)
      })
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`))
      const outside: string[] = []
      page.on('request', (r) => {
        if (!r.url().startsWith(server.url)) outside.push(r.url())
      })
      // Injected by the browser itself (CDP), so the page's CSP does not apply to it.
      await page.addInitScript(() => {
        const list: string[] = []
        ;(window as unknown as { __csp: string[] }).__csp = list
        document.addEventListener('securitypolicyviolation', (e) => {
          list.push(`${e.violatedDirective} ${e.blockedURI}`)
        })
      })

      const response = await page.goto(`${server.url}/ops/_monitor?interval=250`)
      expect(response?.status()).toBe(200)

      // Wait until every line of every chart has more than one point.
      await page.waitForFunction(
        () => {
          const lines = document.querySelectorAll('svg polyline')
          if (lines.length !== 5) return false
          return Array.from(lines).every(
            (l) => (l.getAttribute('points') ?? '').trim().split(/\s+/).length > 8
          )
        },
        undefined,
        { timeout: 20_000, polling: 100 }
      )
      const points = await page.$$eval('svg polyline', (lines) =>
        lines.map((l) => ({
          cls: l.getAttribute('class'),
          points: (l.getAttribute('points') ?? '').trim().split(/\s+/),
        }))
      )
      expect(points.map((p) => p.cls)).toEqual(['rate', 'err', 'p50', 'p95', 'p99'])
      for (const p of points) {
        for (const xy of p.points) expect(xy).toMatch(/^-?\d+(\.\d+)?,-?\d+(\.\d+)?$/)
      }
      // Traffic is running: some point of the rate chart is above the baseline (y < 159).
      const rateYs = (points[0]?.points ?? []).map((xy) => Number(xy.split(',')[1]))
      expect(Math.min(...rateYs)).toBeLessThan(159)

      const numbers = await page.evaluate(() => ({
        status: document.getElementById('status')?.textContent,
        total: document.getElementById('n-total')?.textContent,
        errors: document.getElementById('n-errors')?.textContent,
        p99: document.getElementById('n-p99')?.textContent,
        rss: document.getElementById('n-rss')?.textContent,
        csp: (window as unknown as { __csp: string[] }).__csp,
      }))
      expect(numbers.status).toBe('live')
      expect(numbers.total).toMatch(/^[1-9][\d,]*$/)
      expect(numbers.errors).toMatch(/^[1-9][\d,]*$/)
      expect(numbers.p99).toMatch(/ms$/)
      expect(numbers.rss).toMatch(/iB$/)
      expect(numbers.csp).toEqual([])
      expect(problems).toEqual([])
      expect(outside).toEqual([])

      mkdirSync(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true })
      await page.close()
    },
    BROWSER_TIMEOUT
  )

  it(
    'should report a CSP violation if the page broke its own policy (the check can fail)',
    async () => {
      const page = await browser.newPage()
      const messages: string[] = []
      page.on('console', (msg) => messages.push(msg.text()))
      await page.goto(`${server.url}/ops/_monitor?interval=60000`)
      // An inline script the policy does not list is refused and reported.
      const violations = await page.evaluate(
        () =>
          new Promise<string[]>((resolve) => {
            const seen: string[] = []
            document.addEventListener('securitypolicyviolation', (e) =>
              seen.push(e.violatedDirective)
            )
            const s = document.createElement('script')
            s.textContent = 'window.__ran = true'
            document.body.appendChild(s)
            setTimeout(() => resolve(seen), 200)
          })
      )
      expect(violations.some((v) => v.startsWith('script-src'))).toBe(true)
      expect(
        await page.evaluate(() => (window as unknown as { __ran?: boolean }).__ran)
      ).toBeUndefined()
      expect(messages.some((m) => m.includes('Content Security Policy'))).toBe(true)
      await page.close()
    },
    BROWSER_TIMEOUT
  )
})
