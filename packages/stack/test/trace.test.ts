import type { IncomingMessage, ServerResponse } from 'node:http'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { HttpError, type LayerTracer, type Middleware, stack } from '../src/index.js'

failOnUnhandledRejections()

interface Event {
  kind: 'enter' | 'exit'
  layer: string
  index: number
  start: number
  end?: number
}

function recorder(): { trace: LayerTracer; events: Event[] } {
  const events: Event[] = []
  const trace: LayerTracer = {
    enter(_req: IncomingMessage, _res: ServerResponse, layer, index, time) {
      events.push({ kind: 'enter', layer, index, start: time })
    },
    exit(_req: IncomingMessage, _res: ServerResponse, layer, index, start, end) {
      events.push({ kind: 'exit', layer, index, start, end })
    },
  }
  return { trace, events }
}

const sleepy: Middleware = function sleepy(next) {
  return async (req, res) => {
    await new Promise((r) => setTimeout(r, 5))
    await next(req, res)
  }
}

describe('stack({ trace })', () => {
  it('should report each layer entered, in order, and its inclusive span', async () => {
    const { trace, events } = recorder()
    const layers: Middleware[] = [
      sleepy,
      (next) =>
        function auth(req, res) {
          return next(req, res)
        },
      (next) => (req, res) => next(req, res),
    ]
    const server = await listen(
      stack(
        { trace },
        ...layers
      )((_req, res) => {
        res.end('ok')
      })
    )
    try {
      await fetch(server.url)
      await new Promise((r) => setTimeout(r, 10))
      const enters = events.filter((e) => e.kind === 'enter')
      expect(enters.map((e) => [e.layer, e.index])).toEqual([
        ['sleepy', 0],
        ['auth', 1],
        ['layer2', 2],
        ['app', 3],
      ])
      const starts = enters.map((e) => e.start)
      expect([...starts].sort((a, b) => a - b)).toEqual(starts)
      // the sleepy layer spends about 5 ms before handing on
      expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(4)
      const exits = events.filter((e) => e.kind === 'exit')
      expect(exits.map((e) => e.layer)).toEqual(['app', 'layer2', 'auth', 'sleepy'])
      const outer = exits[3] as Event
      const inner = exits[0] as Event
      expect(outer.start).toBeLessThanOrEqual(inner.start)
      expect(outer.end).toBeGreaterThanOrEqual(inner.end as number)
    } finally {
      await server.close()
    }
  })

  it('should close the span of a layer that fails, and still render the error', async () => {
    const { trace, events } = recorder()
    const server = await listen(
      stack(
        { trace, onError: () => {} },
        (next) => next
      )(async () => {
        throw new HttpError(418)
      })
    )
    try {
      expect((await fetch(server.url)).status).toBe(418)
      expect(events.filter((e) => e.kind === 'exit').map((e) => e.layer)).toEqual(['app', 'layer0'])
    } finally {
      await server.close()
    }
  })

  it('should work with an enter-only tracer and refuse a malformed one', async () => {
    const seen: string[] = []
    const server = await listen(
      stack(
        { trace: { enter: (_q, _s, layer) => seen.push(layer) } },
        (next) => next
      )((_q, res) => {
        res.end()
      })
    )
    try {
      await fetch(server.url)
      expect(seen).toEqual(['layer0', 'app'])
    } finally {
      await server.close()
    }
    expect(() => stack({ trace: {} as never })).toThrow(/option "trace" must be an object/)
    expect(() => stack({ trace: { enter: () => {}, exit: 1 } as never })).toThrow(/option "trace"/)
  })
})

describe('stack({ trace }) with nested stacks', () => {
  it('should name the nested stack "stack" and not report its hand-off back as the app', async () => {
    const { trace, events } = recorder()
    const inner = stack(
      { trace },
      (next) =>
        function auth(req, res) {
          return next(req, res)
        }
    )
    const server = await listen(
      stack(
        { trace },
        inner
      )((_q, res) => {
        res.end()
      })
    )
    try {
      await fetch(server.url)
      expect(events.filter((e) => e.kind === 'enter').map((e) => e.layer)).toEqual([
        'stack',
        'auth',
        'app',
      ])
    } finally {
      await server.close()
    }
  })
})
