import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError, onFinished, stack } from '@shallot/stack'
import { delay, failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getTiming, serverTiming, type Timing, type TimingEntry } from '../src/index.js'
import { once, quiet } from './helpers.js'
import { find, metricsOf } from './parse.js'

failOnUnhandledRejections()

const ok = (_req: IncomingMessage, res: ServerResponse) => {
  res.end('ok')
}

describe('serverTiming: total', () => {
  it('should send total with a dur in ms, 3 digits', async () => {
    const res = await once(stack(serverTiming())(ok))
    expect(res.status).toBe(200)
    expect(res.headers['server-timing']).toMatch(/^total;dur=\d+\.\d{3}$/)
  })

  it('should measure total until the head is written', async () => {
    const res = await once(
      stack(serverTiming())(async (_req, res) => {
        await delay(60)
        res.end()
      })
    )
    const total = find(metricsOf(res.headers['server-timing']), 'total')
    expect(total?.dur).toBeGreaterThanOrEqual(50)
  })

  it('should add totalDescription, honour digits and total: false', async () => {
    const described = await once(
      stack(serverTiming({ totalDescription: 'Total "time"', digits: 1 }))(ok)
    )
    expect(described.headers['server-timing']).toMatch(
      /^total;dur=\d+\.\d;desc="Total \\"time\\""$/
    )
    expect(metricsOf(described.headers['server-timing'])[0]?.desc).toBe('Total "time"')
    const zero = await once(stack(serverTiming({ digits: 0 }))(ok))
    expect(zero.headers['server-timing']).toMatch(/^total;dur=\d+$/)
    const none = await once(stack(serverTiming({ total: false }))(ok))
    expect(none.headers['server-timing']).toBeUndefined()
  })

  it('should append to a Server-Timing header the app set', async () => {
    const res = await once(
      stack(serverTiming())((_req, res) => {
        res.setHeader('Server-Timing', 'cdn;dur=1')
        res.end()
      })
    )
    expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual(['cdn', 'total'])
  })

  it('should send one total when the layer is used twice', async () => {
    const res = await once(
      stack(
        serverTiming(),
        serverTiming()
      )((req, res) => {
        getTiming(req).add('x')
        res.end()
      })
    )
    expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual(['total', 'x'])
  })
})

describe('serverTiming: marks from getTiming(req)', () => {
  it('should send start/end pairs, add() entries and measure() in order', async () => {
    const res = await once(
      stack(serverTiming())(async (req, res) => {
        const t = getTiming(req)
        expect(t.active).toBe(true)
        t.start('db', 'users query')
        await delay(30)
        const dur = t.end('db')
        expect(dur).toBeGreaterThanOrEqual(25)
        t.add('cache', { desc: 'miss' })
        t.add('cpu', { dur: 1.5 })
        t.add('flag')
        expect(t.measure('sync', () => 42)).toBe(42)
        expect(await t.measure('async', () => delay(20).then(() => 'done'), 'slow')).toBe('done')
        res.end()
      })
    )
    expect(res.status).toBe(200)
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual([
      'total',
      'db',
      'cache',
      'cpu',
      'flag',
      'sync',
      'async',
    ])
    expect(find(metrics, 'db')).toMatchObject({ desc: 'users query' })
    expect(find(metrics, 'db')?.dur).toBeGreaterThanOrEqual(25)
    expect(find(metrics, 'cache')).toEqual({ name: 'cache', dur: undefined, desc: 'miss' })
    expect(find(metrics, 'cpu')).toEqual({ name: 'cpu', dur: 1.5, desc: undefined })
    expect(find(metrics, 'flag')).toEqual({ name: 'flag', dur: undefined, desc: undefined })
    expect(find(metrics, 'sync')?.dur).toBeGreaterThanOrEqual(0)
    expect(find(metrics, 'async')?.dur).toBeGreaterThanOrEqual(15)
    expect(find(metrics, 'async')?.desc).toBe('slow')
  })

  it('should end a measure() whose fn throws or rejects, and pass the error on', async () => {
    const res = await once(
      stack(serverTiming())(async (req, res) => {
        const t = getTiming(req)
        expect(() =>
          t.measure('throws', () => {
            throw new Error('sync')
          })
        ).toThrow('sync')
        await expect(
          t.measure('rejects', () => Promise.reject(new Error('async')))
        ).rejects.toThrow('async')
        res.end()
      })
    )
    expect(res.status).toBe(200)
    const metrics = metricsOf(res.headers['server-timing'])
    expect(find(metrics, 'throws')?.dur).toBeGreaterThanOrEqual(0)
    expect(find(metrics, 'rejects')?.dur).toBeGreaterThanOrEqual(0)
  })

  it('should end marks still open when the head is written, and keep later marks off the header', async () => {
    let entries: readonly TimingEntry[] = []
    let lateEnd: number | undefined = -1
    const res = await once(
      stack(
        (next) =>
          function spy(req, res) {
            onFinished(res, () => {
              entries = getTiming(req).entries
            })
            return next(req, res)
          },
        serverTiming()
      )(async (req, res) => {
        const t = getTiming(req)
        t.start('open')
        await delay(20)
        res.write('head is out\n')
        lateEnd = t.end('open')
        t.add('late', { dur: 1 })
        res.end()
      })
    )
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual(['total', 'open'])
    expect(find(metrics, 'open')?.dur).toBeGreaterThanOrEqual(15)
    // ended at head time: a later end() finds no open mark
    expect(lateEnd).toBeUndefined()
    await delay(10)
    expect(entries.map((e) => [e.name, typeof e.dur])).toEqual([
      ['open', 'number'],
      ['late', 'number'],
    ])
  })

  it('should end the most recent open mark of that name, and return undefined for unknown ones', async () => {
    const res = await once(
      stack(serverTiming())(async (req, res) => {
        const t = getTiming(req)
        t.start('q', 'outer')
        await delay(20)
        t.start('q', 'inner')
        const inner = t.end('q') as number
        const outer = t.end('q') as number
        expect(inner).toBeLessThan(outer)
        expect(t.end('q')).toBeUndefined()
        expect(t.end('never-started')).toBeUndefined()
        res.end()
      })
    )
    expect(res.status).toBe(200)
    const qs = metricsOf(res.headers['server-timing']).filter((m) => m.name === 'q')
    expect(qs.map((m) => m.desc)).toEqual(['outer', 'inner'])
  })

  it('should be a validating no-op without a serverTiming layer', async () => {
    let timing: Timing | undefined
    const res = await once(
      stack((next) => next)(async (req, res) => {
        timing = getTiming(req)
        timing.start('a')
        timing.end('a')
        timing.add('b', { dur: 1 })
        expect(timing.measure('c', () => 7)).toBe(7)
        expect(() => timing?.add('bad name')).toThrow(TypeError)
        res.end()
      })
    )
    expect(res.status).toBe(200)
    expect(res.headers['server-timing']).toBeUndefined()
    expect(timing?.active).toBe(false)
    expect(timing?.entries).toEqual([])
    expect(timing?.layers).toEqual([])
  })
})

describe('serverTiming: hostile names and descriptions', () => {
  it('should escape quotes and backslashes and replace CR/LF, controls and non-ASCII', async () => {
    const hostile = 'a"b\\c\r\nX-Injected: 1\u0000\u007fé日本😀\t"end'
    const res = await once(
      stack(serverTiming())((req, res) => {
        const t = getTiming(req)
        t.add('db', { desc: hostile })
        t.start('q', '\r\n\r\nHTTP/1.1 200 OK')
        t.end('q')
        res.end('ok')
      })
    )
    expect(res.status).toBe(200)
    expect(res.body).toBe('ok')
    expect(res.headers['x-injected']).toBeUndefined()
    const header = res.headers['server-timing'] as string
    expect(header).toMatch(/^[\t\x20-\x7e]+$/)
    expect(header).toContain('desc="a\\"b\\\\c  X-Injected: 1  ????\t\\"end"')
    const metrics = metricsOf(header)
    expect(find(metrics, 'db')?.desc).toBe('a"b\\c  X-Injected: 1  ????\t"end')
    expect(find(metrics, 'q')?.desc).toBe('    HTTP/1.1 200 OK')
  })

  it('should cut long descriptions to 200 characters', async () => {
    const res = await once(
      stack(serverTiming())((req, res) => {
        getTiming(req).add('long', { desc: 'x'.repeat(5000) })
        res.end()
      })
    )
    const desc = find(metricsOf(res.headers['server-timing']), 'long')?.desc as string
    expect(desc).toHaveLength(200)
    expect(desc.endsWith('...')).toBe(true)
  })

  it('should throw a TypeError for a name that is not an HTTP token, and send the rest', async () => {
    const bad: unknown[] = [
      '',
      'a b',
      'ssr:route',
      'db\r\nX: 1',
      'a"b',
      'é',
      'x'.repeat(65),
      42,
      null,
    ]
    const errors: unknown[] = []
    const res = await once(
      stack(serverTiming())((req, res) => {
        const t = getTiming(req)
        for (const name of bad) {
          for (const call of [
            () => t.add(name as string),
            () => t.start(name as string),
            () => t.end(name as string),
            () => t.measure(name as string, () => 1),
          ]) {
            try {
              call()
            } catch (err) {
              errors.push(err)
            }
          }
        }
        t.add('x'.repeat(64))
        t.add("ok!#$%&'*+-.^_`|~9")
        res.end()
      })
    )
    expect(errors).toHaveLength(bad.length * 4)
    for (const err of errors) {
      expect(err).toBeInstanceOf(TypeError)
      expect((err as Error).message).toMatch(
        /^\[@shallot\/timing\] (add|start|end|measure): the metric name must be an HTTP token/
      )
    }
    expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual([
      'total',
      'x'.repeat(64),
      "ok!#$%&'*+-.^_`|~9",
    ])
  })

  it('should throw a TypeError for a bad dur, desc or fn', async () => {
    const res = await once(
      stack(serverTiming())((req, res) => {
        const t = getTiming(req)
        for (const dur of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5']) {
          expect(() => t.add('a', { dur: dur as number })).toThrow(/"dur" must be a finite number/)
        }
        expect(() => t.add('a', { desc: 5 as unknown as string })).toThrow(/description/)
        expect(() => t.add('a', 5 as never)).toThrow(/metric must be an object/)
        expect(() => t.start('a', {} as never)).toThrow(/description/)
        expect(() => t.measure('a', 5 as never)).toThrow(/fn must be a function/)
        res.end()
      })
    )
    expect(res.status).toBe(200)
    expect(res.headers['server-timing']).toMatch(/^total;dur=[\d.]+$/)
  })
})

describe('serverTiming: limit', () => {
  it('should keep at most limit entries, drop and count the rest', async () => {
    let dropped = -1
    const res = await once(
      stack(serverTiming({ limit: 3 }))((req, res) => {
        const t = getTiming(req)
        for (let i = 0; i < 5; i++) t.add(`m${i}`, { dur: i })
        t.start('over')
        t.measure('over2', () => 0)
        dropped = t.dropped
        expect(t.entries).toHaveLength(3)
        res.end()
      })
    )
    expect(res.status).toBe(200)
    expect(dropped).toBe(4)
    expect(metricsOf(res.headers['server-timing'])).toEqual([
      expect.objectContaining({ name: 'total' }),
      { name: 'm0', dur: 0, desc: undefined },
      { name: 'm1', dur: 1, desc: undefined },
      { name: 'm2', dur: 2, desc: undefined },
      { name: 'dropped', dur: undefined, desc: '4 over the limit of 3' },
    ])
  })

  it('should default to 50, and allow 0', async () => {
    const fill = (n: number) => (req: IncomingMessage, res: ServerResponse) => {
      for (let i = 0; i < n; i++) getTiming(req).add(`m${i}`)
      res.end()
    }
    const fifty = metricsOf((await once(stack(serverTiming())(fill(60)))).headers['server-timing'])
    expect(fifty).toHaveLength(52)
    expect(fifty.at(-1)?.desc).toBe('10 over the limit of 50')
    const zero = metricsOf(
      (await once(stack(serverTiming({ limit: 0 }))(fill(2)))).headers['server-timing']
    )
    expect(zero.map((m) => m.name)).toEqual(['total', 'dropped'])
  })
})

describe('serverTiming: error responses and streaming', () => {
  it('should send total and marks on an error response the stack renders', async () => {
    const res = await once(
      stack(
        quiet,
        serverTiming()
      )(async (req) => {
        getTiming(req).add('before-error', { dur: 2 })
        await delay(5)
        throw new HttpError(503, 'down')
      })
    )
    expect(res.status).toBe(503)
    expect(metricsOf(res.headers['server-timing']).map((m) => m.name)).toEqual([
      'total',
      'before-error',
    ])
    const sync = await once(
      stack(
        quiet,
        serverTiming()
      )(() => {
        throw new Error('boom')
      }),
      { headers: { accept: 'application/json' } }
    )
    expect(sync.status).toBe(500)
    expect(sync.headers['server-timing']).toMatch(/^total;dur=/)
  })

  it('should be written with the first chunk of a streamed response', async () => {
    const res = await once(
      stack(serverTiming())(async (req, res) => {
        getTiming(req).add('early')
        res.write('a')
        await delay(100)
        getTiming(req).add('late')
        res.end('b')
      })
    )
    expect(res.body).toBe('ab')
    const metrics = metricsOf(res.headers['server-timing'])
    expect(metrics.map((m) => m.name)).toEqual(['total', 'early'])
    expect(find(metrics, 'total')?.dur).toBeLessThan(90)
  })
})

describe('serverTiming: options', () => {
  it('should reject invalid options at start-up', () => {
    const cases: [string, unknown, string?][] = [
      ['digits', -1],
      ['digits', 7],
      ['limit', -1],
      ['limit', 1001],
      ['limit', 2.5],
      ['total', 'yes'],
      ['totalDescription', 5],
      ['expose', 'sometimes'],
      ['expose', true],
      ['expose', ['https://a.example']],
      ['expose', { origins: [] }, 'expose.origins'],
      ['expose', { origins: 'https://a.example' }, 'expose.origins'],
      ['expose', { origins: ['*'] }, 'expose.origins'],
      ['expose', { origins: ['https://a.example/'] }, 'expose.origins'],
      ['expose', { origins: ['https://A.example'] }, 'expose.origins'],
      ['expose', { origins: ['a.example'] }, 'expose.origins'],
      ['expose', { origins: ['null'] }, 'expose.origins'],
      ['expose', { origins: [42] }, 'expose.origins'],
    ]
    for (const [name, value, reported = name] of cases) {
      expect(
        () => serverTiming({ [name]: value } as never),
        `${name}: ${JSON.stringify(value)}`
      ).toThrow(
        new RegExp(`^\\[@shallot/timing\\] option "${reported.replace('.', '\\.')}" must be`)
      )
    }
    expect(() => serverTiming({ enabled: false } as never)).toThrow(
      /^\[@shallot\/timing\] serverTiming\(options\): unknown option "enabled" \(use "expose"\)$/
    )
    expect(() => serverTiming({ responseTime: true } as never)).toThrow(
      /unknown option "responseTime" \(known: expose, total, totalDescription, digits, limit\)/
    )
    expect(() => serverTiming('x' as never)).toThrow(
      /serverTiming\(options\): options must be an object/
    )
  })
})
