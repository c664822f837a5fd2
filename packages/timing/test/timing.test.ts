import { HttpError, stack } from '@shallot/stack'
import { delay, failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getTiming, timing } from '../src/index.js'
import { once, quiet } from './helpers.js'
import { find, metricsOf } from './parse.js'

failOnUnhandledRejections()

describe('timing()', () => {
  it('should send X-Response-Time and Server-Timing from one measurement', async () => {
    const res = await once(
      stack(timing())(async (req, res) => {
        await getTiming(req).measure('work', () => delay(10))
        res.end('ok')
      })
    )
    expect(res.status).toBe(200)
    const header = res.headers['x-response-time'] as string
    expect(header).toMatch(/^\d+\.\d{3}ms$/)
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual(['total', 'work'])
    expect(res.headers['server-timing']).toMatch(new RegExp(`^total;dur=${header.slice(0, -2)},`))
  })

  it('should take responseTime options, or false', async () => {
    const custom = await once(
      stack(timing({ responseTime: { header: 'Response-Time', suffix: false, digits: 1 } }))(
        (_req, res) => {
          res.end()
        }
      )
    )
    expect(custom.headers['response-time']).toMatch(/^\d+\.\d$/)
    expect(custom.headers['server-timing']).toMatch(/^total;dur=\d+\.\d{3}$/)
    const off = await once(
      stack(timing({ responseTime: false }))((_req, res) => {
        res.end()
      })
    )
    expect(off.headers['x-response-time']).toBeUndefined()
    expect(off.headers['server-timing']).toMatch(/^total;dur=/)
  })

  it('should send X-Response-Time even when Server-Timing is not exposed', async () => {
    const res = await once(
      stack(timing({ expose: 'never' }))((_req, res) => {
        res.end()
      })
    )
    expect(res.headers['x-response-time']).toMatch(/ms$/)
    expect(res.headers['server-timing']).toBeUndefined()
  })

  it('should put both headers on error responses the stack renders', async () => {
    for (const thrower of [
      () => {
        throw new Error('sync boom')
      },
      async () => {
        await delay(5)
        throw new HttpError(401, 'who are you', { headers: { 'WWW-Authenticate': 'Bearer' } })
      },
    ]) {
      const res = await once(stack(quiet, timing())(thrower))
      expect([500, 401]).toContain(res.status)
      expect(res.headers['x-response-time']).toMatch(/^\d+\.\d{3}ms$/)
      expect(res.headers['server-timing']).toMatch(/^total;dur=\d+\.\d{3}$/)
    }
  })

  it('should put both headers on a layer refusal before the app runs', async () => {
    const res = await once(
      stack(
        quiet,
        timing(),
        (next) =>
          function guard(req, res) {
            getTiming(req).add('guard', { desc: 'refused' })
            if (req.url !== '/ok') throw new HttpError(403)
            return next(req, res)
          }
      )((_req, res) => {
        res.end()
      })
    )
    expect(res.status).toBe(403)
    expect(res.headers['x-response-time']).toMatch(/ms$/)
    expect(find(metricsOf(res.headers['server-timing']), 'guard')?.desc).toBe('refused')
  })

  it('should measure a streamed response until its first chunk', async () => {
    const res = await once(
      stack(timing())(async (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.write('one\n')
        await delay(120)
        res.write('two\n')
        res.end()
      })
    )
    expect(res.body).toBe('one\ntwo\n')
    expect(Number.parseFloat(res.headers['x-response-time'] as string)).toBeLessThan(100)
    expect(find(metricsOf(res.headers['server-timing']), 'total')?.dur).toBeLessThan(100)
  })

  it('should reject invalid options at start-up', () => {
    expect(() => timing({ responseTime: 'yes' as never })).toThrow(
      /^\[@shallot\/timing\] option "responseTime" must be/
    )
    expect(() => timing({ responseTime: { digits: 9 } })).toThrow(
      /^\[@shallot\/timing\] option "responseTime\.digits" must be an integer from 0 to 6, got 9$/
    )
    expect(() => timing({ responseTime: { header: 'a b' } })).toThrow(/"responseTime\.header"/)
    expect(() => timing({ limit: -5 })).toThrow(
      /option "limit" must be an integer from 0 to 1000, got -5/
    )
    expect(() => timing({ expose: 'nope' as never })).toThrow(/option "expose"/)
    expect(() => timing({ crossOrigin: true } as never)).toThrow(/unknown option "crossOrigin"/)
    expect(() => timing({ responseTime: { digit: 1 } as never })).toThrow(
      /timing\(\{ responseTime \}\)\(options\): unknown option "digit"/
    )
  })
})
