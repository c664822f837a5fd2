import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError, type Middleware, onFinished, stack } from '@shallot/stack'
import { delay, failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getTiming, type LayerSpan, serverTiming, timing, traceLayers } from '../src/index.js'
import { once, quiet } from './helpers.js'
import { find, metricsOf } from './parse.js'

failOnUnhandledRejections()

const ok = (_req: IncomingMessage, res: ServerResponse) => {
  res.end('ok')
}

/** A named layer that spends `ms` before handing on. */
function slow(name: string, ms: number): Middleware {
  const mw: Middleware = (next) => async (req, res) => {
    await delay(ms)
    return next(req, res)
  }
  Object.defineProperty(mw, 'name', { value: name })
  return mw
}

describe('traceLayers: the tracer contract, called directly', () => {
  it("should turn enter times into each layer's time before handing on", async () => {
    const tracer = traceLayers()
    const res = await once(
      stack(serverTiming())((req, res) => {
        const t = performance.now()
        tracer.enter(req, res, 'outer', 0, t - 30)
        tracer.enter(req, res, 'inner', 1, t - 20)
        tracer.enter(req, res, 'app', 2, t - 5)
        res.end()
        tracer.exit?.(req, res, 'app', 2, t - 5, t + 1)
        tracer.exit?.(req, res, 'inner', 1, t - 20, t + 2)
        tracer.exit?.(req, res, 'outer', 0, t - 30, t + 3)
      })
    )
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual(['total', 'layer.outer', 'layer.inner', 'layer.app'])
    expect(find(metrics, 'layer.outer')?.dur).toBe(10)
    expect(find(metrics, 'layer.inner')?.dur).toBe(15)
    expect(find(metrics, 'layer.app')?.dur).toBeGreaterThanOrEqual(5)
  })

  it('should keep inclusive spans in getTiming(req).layers, and exit-only spans off the header', async () => {
    const tracer = traceLayers({ prefix: 'mw-' })
    let layers: readonly LayerSpan[] = []
    const res = await once(
      stack(serverTiming())((req, res) => {
        tracer.enter(req, res, 'a', 0, 100)
        tracer.enter(req, res, 'b', 1, 110)
        tracer.exit?.(req, res, 'lonely', 7, 1, 2)
        tracer.exit?.(req, res, 'b', 1, 110, 150)
        tracer.exit?.(req, res, 'a', 0, 100, 160)
        layers = getTiming(req).layers
        res.end()
      })
    )
    expect(layers.map((l) => ({ ...l }))).toEqual([
      expect.objectContaining({ layer: 'a', start: 100, next: 110, end: 160 }),
      expect.objectContaining({ layer: 'b', start: 110, next: undefined, end: 150 }),
      expect.objectContaining({ layer: 'lonely', start: 1, next: undefined, end: 2 }),
    ])
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual(['total', 'mw-a', 'mw-b'])
    expect(find(metrics, 'mw-a')?.dur).toBe(10)
  })

  it('should turn any layer name into a valid metric name', async () => {
    const tracer = traceLayers({ prefix: '' })
    const res = await once(
      stack(serverTiming())((req, res) => {
        const t = performance.now()
        for (const name of ['my layer:1', 'é\r\n"x"', '', 'y'.repeat(100)]) {
          tracer.enter(req, res, name, 0, t)
        }
        res.end()
      })
    )
    expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual([
      'total',
      'my_layer_1',
      '____x_',
      'layer',
      'y'.repeat(64),
    ])
  })

  it('should do nothing visible without a serverTiming layer', async () => {
    const tracer = traceLayers()
    const res = await once(
      stack((next) => next)((req, res) => {
        tracer.enter(req, res, 'x', 0, performance.now())
        res.end()
      })
    )
    expect(res.status).toBe(200)
    expect(res.headers['server-timing']).toBeUndefined()
  })

  it('should reject invalid options at start-up', () => {
    for (const prefix of [5, 'a b', 'x:', 'p'.repeat(33)]) {
      expect(() => traceLayers({ prefix: prefix as string })).toThrow(
        /^\[@shallot\/timing\] option "prefix" must be/
      )
    }
    expect(() => traceLayers(null as never)).toThrow(/traceLayers\(options\)/)
    expect(() => traceLayers({ name: 'x' } as never)).toThrow(/unknown option "name"/)
  })
})

describe('traceLayers: with stack({ trace })', () => {
  it('should show every layer of a real stack as a Server-Timing entry', async () => {
    let layers: readonly LayerSpan[] = []
    const logger: Middleware = (next) =>
      function logger(req, res) {
        onFinished(res, () => {
          layers = getTiming(req).layers
        })
        return next(req, res)
      }
    const res = await once(
      stack(
        { trace: traceLayers() },
        logger,
        timing(),
        slow('session', 30),
        (next) =>
          function auth(req, res) {
            return next(req, res)
          },
        (next) => next
      )(async (req, res) => {
        getTiming(req).add('db', { dur: 3 })
        await delay(20)
        res.end('ok')
      })
    )
    expect(res.status).toBe(200)
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual([
      'total',
      'layer.logger',
      'layer.timing',
      'layer.session',
      'layer.auth',
      'layer.layer4',
      'layer.app',
      'db',
    ])
    expect(find(metrics, 'layer.session')?.dur).toBeGreaterThanOrEqual(25)
    expect(find(metrics, 'layer.app')?.dur).toBeGreaterThanOrEqual(15)
    expect(find(metrics, 'layer.auth')?.dur).toBeLessThan(25)
    // total covers the layers inside timing(), which end with the app at the same clock reading
    const inner = ['layer.session', 'layer.auth', 'layer.layer4', 'layer.app']
    const sum = inner.reduce((s, name) => s + (find(metrics, name)?.dur ?? 0), 0)
    expect(find(metrics, 'total')?.dur).toBeGreaterThanOrEqual(sum - 0.01)
    // after the response: inclusive spans, each enclosing the next
    await delay(20)
    expect(layers.map((l) => l.layer)).toEqual([
      'logger',
      'timing',
      'session',
      'auth',
      'layer4',
      'app',
    ])
    for (let i = 0; i < layers.length; i++) {
      const span = layers[i] as LayerSpan
      const inside = layers[i + 1]
      expect(span.end).toBeTypeOf('number')
      if (inside !== undefined) {
        expect(span.next).toBe(inside.start)
        expect(span.end as number).toBeGreaterThanOrEqual(inside.end as number)
      } else {
        expect(span.next).toBeUndefined()
      }
    }
  })

  it('should count the refusing layer until the head of the error response', async () => {
    const res = await once(
      stack(
        { ...quiet, trace: traceLayers() },
        serverTiming(),
        (next) =>
          async function auth(req, res) {
            await delay(20)
            if (req.headers.authorization === undefined) throw new HttpError(401)
            return next(req, res)
          }
      )(ok)
    )
    expect(res.status).toBe(401)
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual(['total', 'layer.serverTiming', 'layer.auth'])
    expect(find(metrics, 'layer.auth')?.dur).toBeGreaterThanOrEqual(15)
  })

  it('should trace nested stacks in the order they are entered, within the limit', async () => {
    const trace = traceLayers()
    const res = await once(
      stack(
        { trace },
        serverTiming({ limit: 4 }),
        stack({ trace }, slow('a', 1), slow('b', 1)),
        slow('c', 1)
      )(ok)
    )
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual([
      'total',
      'layer.serverTiming',
      'layer.stack',
      'layer.a',
      'layer.b',
      'dropped',
    ])
    expect(find(metrics, 'dropped')?.desc).toBe('2 over the limit of 4')
  })
})
