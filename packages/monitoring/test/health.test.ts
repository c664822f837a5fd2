import { type Middleware, stack } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { monitoring, type Readiness } from '../src/index.js'
import { eventually, json, ok, req, serving } from './helpers.js'

failOnUnhandledRejections()

describe('monitoring: /healthz', () => {
  it('should answer 200 {"status":"ok"} without running any check', async () => {
    let ran = 0
    const mon = monitoring({ defaultMetrics: false, checks: { db: async () => void ran++ } })
    await serving(stack(mon)(ok), async (server) => {
      const { status, body, res } = await json(server, '/healthz')
      expect(status).toBe(200)
      expect(body).toEqual({ status: 'ok' })
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(res.headers['cache-control']).toBe('no-store')
      expect(ran).toBe(0)
      const head = await req(server, '/healthz', { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.body).toBe('')
    })
  })
})

describe('monitoring: /readyz', () => {
  it('should be ready with no checks', async () => {
    await serving(stack(monitoring({ defaultMetrics: false }))(ok), async (server) => {
      const { status, body } = await json(server, '/readyz')
      expect(status).toBe(200)
      expect(body).toEqual({ status: 'ok', checks: {} })
    })
  })

  it('should answer 200 when every check resolves', async () => {
    const mon = monitoring({
      defaultMetrics: false,
      checks: { db: async () => 'pong', cache: () => Promise.resolve(), sync: () => 1 },
    })
    await serving(stack(mon)(ok), async (server) => {
      const { status, body } = await json<Readiness>(server, '/readyz')
      expect(status).toBe(200)
      expect(body).toEqual({
        status: 'ok',
        checks: { db: { status: 'ok' }, cache: { status: 'ok' }, sync: { status: 'ok' } },
      })
    })
  })

  it('should answer 503 naming the failing check, without its error message', async () => {
    const mon = monitoring({
      defaultMetrics: false,
      checks: {
        db: async () => {
          throw new Error('password=hunter2 refused')
        },
        thrower: () => {
          throw new Error('sync')
        },
        cache: async () => {},
      },
    })
    await serving(stack(mon)(ok), async (server) => {
      const { status, body, res } = await json<Readiness>(server, '/readyz')
      expect(status).toBe(503)
      expect(body).toEqual({
        status: 'fail',
        checks: {
          db: { status: 'fail', reason: 'error' },
          thrower: { status: 'fail', reason: 'error' },
          cache: { status: 'ok' },
        },
      })
      expect(res.body).not.toContain('hunter2')
    })
  })

  it('should cut a hanging check at its timeout, reason "timeout", and abort its signal', async () => {
    let signal: AbortSignal | undefined
    const mon = monitoring({
      defaultMetrics: false,
      checkTimeout: 50,
      checks: {
        hangs: (s) => {
          signal = s
          return new Promise(() => {}) // never settles
        },
        fine: async () => {},
      },
    })
    await serving(stack(mon)(ok), async (server) => {
      const { status, body } = await json<Readiness>(server, '/readyz')
      expect(status).toBe(503)
      expect(body.checks).toEqual({
        hangs: { status: 'fail', reason: 'timeout' },
        fine: { status: 'ok' },
      })
      expect(signal?.aborted).toBe(true)
    })
  })

  it('should share one run between probes that arrive while it is in flight', async () => {
    let runs = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const mon = monitoring({
      defaultMetrics: false,
      checkTimeout: 10_000,
      checks: {
        db: () => {
          runs++
          return runs === 1 ? gate : Promise.resolve()
        },
      },
    })
    let arrived = 0
    const count: Middleware = (next) => (request, res) => {
      if (request.url === '/readyz') arrived++
      return next(request, res)
    }
    await serving(stack(count, mon)(ok), async (server) => {
      const probes = Promise.all([json(server, '/readyz'), json(server, '/readyz'), mon.ready()])
      await eventually(() => arrived === 2)
      release()
      const [a, b, c] = await probes
      expect(runs).toBe(1)
      expect(a.status).toBe(200)
      expect(b.status).toBe(200)
      expect(c.status).toBe('ok')
      // A probe after the run has settled runs the checks again.
      expect((await json(server, '/readyz')).status).toBe(200)
      expect(runs).toBe(2)
    })
  })
})
