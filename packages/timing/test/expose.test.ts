import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Middleware, stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getTiming, type ServerTimingOptions, serverTiming } from '../src/index.js'
import { once } from './helpers.js'
import { metricsOf } from './parse.js'

failOnUnhandledRejections()

const app = (req: IncomingMessage, res: ServerResponse) => {
  getTiming(req).add('db', { dur: 1 })
  res.end('ok')
}

function send(options: ServerTimingOptions, headers: Record<string, string> = {}) {
  return once(stack(serverTiming(options))(app), { headers })
}

describe('serverTiming: expose', () => {
  it("should send Server-Timing to everyone with 'always' (the default), without Timing-Allow-Origin", async () => {
    for (const options of [{}, { expose: 'always' as const }]) {
      const res = await send(options, { origin: 'https://elsewhere.example' })
      expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual(['total', 'db'])
      expect(res.headers['timing-allow-origin']).toBeUndefined()
      expect(res.headers.vary).toBeUndefined()
    }
  })

  it("should send nothing with 'never', and still record the marks", async () => {
    let names: string[] = []
    const res = await once(
      stack(serverTiming({ expose: 'never' }))((req, res) => {
        getTiming(req).start('open')
        res.write('x')
        names = getTiming(req).entries.map((e) => `${e.name}:${typeof e.dur}`)
        res.end()
      })
    )
    expect(res.headers['server-timing']).toBeUndefined()
    expect(names).toEqual(['open:number'])
  })

  describe('{ origins }', () => {
    const options: ServerTimingOptions = {
      expose: { origins: ['https://app.example', 'http://localhost:5173'] },
    }

    it('should send it with Timing-Allow-Origin to a listed origin, and Vary: Origin', async () => {
      for (const origin of ['https://app.example', 'http://localhost:5173']) {
        const res = await send(options, { origin, 'sec-fetch-site': 'cross-site' })
        expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual(['total', 'db'])
        expect(res.headers['timing-allow-origin']).toBe(origin)
        expect(res.headers.vary).toBe('Origin')
      }
    })

    it('should send nothing to another origin, but still Vary: Origin', async () => {
      for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'null']) {
        const res = await send(options, { origin })
        expect(res.headers['server-timing']).toBeUndefined()
        expect(res.headers['timing-allow-origin']).toBeUndefined()
        expect(res.headers.vary).toBe('Origin')
      }
    })

    it('should send it, without Timing-Allow-Origin, to same-origin requests', async () => {
      // no Origin at all (navigations, same-origin GET, curl)
      const plain = await send(options)
      expect(plain.headers['server-timing']).toMatch(/^total;dur=/)
      expect(plain.headers['timing-allow-origin']).toBeUndefined()
      // the browser says so
      const fetchSite = await send(options, {
        origin: 'https://whatever.example',
        'sec-fetch-site': 'same-origin',
      })
      expect(fetchSite.headers['server-timing']).toMatch(/^total;dur=/)
      expect(fetchSite.headers['timing-allow-origin']).toBeUndefined()
      const typed = await send(options, { 'sec-fetch-site': 'none' })
      expect(typed.headers['server-timing']).toMatch(/^total;dur=/)
      // an Origin equal to the request's own scheme://host
      const own = await send(options, {
        host: 'api.example:8080',
        origin: 'http://api.example:8080',
      })
      expect(own.headers['server-timing']).toMatch(/^total;dur=/)
    })

    it('should send nothing to a cross-site request without Origin (no-cors subresource)', async () => {
      for (const site of ['cross-site', 'same-site']) {
        const res = await send(options, { 'sec-fetch-site': site })
        expect(res.headers['server-timing']).toBeUndefined()
      }
    })

    it('should keep a Timing-Allow-Origin the app set, adding the origin to it', async () => {
      const res = await once(
        stack(serverTiming(options))((_req, res) => {
          res.setHeader('Timing-Allow-Origin', 'https://other.example')
          res.end()
        }),
        { headers: { origin: 'https://app.example' } }
      )
      expect(res.headers['timing-allow-origin']).toBe('https://other.example, https://app.example')
    })
  })

  it('should ask a function just before the head, so it can use what inner layers decided', async () => {
    const staff = Symbol('staff')
    type Marked = IncomingMessage & { [staff]?: boolean }
    const auth: Middleware = (next) =>
      function auth(req, res) {
        ;(req as Marked)[staff] = req.headers.authorization === 'Bearer staff'
        return next(req, res)
      }
    const calls: number[] = []
    const handler = stack(
      serverTiming({
        expose: (req, res) => {
          calls.push(res.statusCode)
          return (req as Marked)[staff] === true
        },
      }),
      auth
    )(app)
    const yes = await once(handler, { headers: { authorization: 'Bearer staff' } })
    expect(metricsOf(yes.headers['server-timing']).map((m) => m.name)).toEqual(['total', 'db'])
    expect(yes.headers['timing-allow-origin']).toBeUndefined()
    const no = await once(handler)
    expect(no.headers['server-timing']).toBeUndefined()
    expect(calls).toEqual([200, 200])
  })

  it('should treat anything but true from the function as no', async () => {
    const res = await send({ expose: (() => 'yes') as never })
    expect(res.headers['server-timing']).toBeUndefined()
  })
})
