import { stack } from '@shallot/stack'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getRequestId, getTraceId, logging } from '../src/index.js'
import {
  captureWarnings,
  collector,
  get,
  hasControl,
  hello,
  listenLenient,
  rawExchange,
  serving,
  until,
} from './helpers.js'

failOnUnhandledRejections()

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('logging: request id', () => {
  it('should generate a UUID v4, send it back, log it and expose it', async () => {
    const c = collector()
    let seen: string | undefined
    await serving(
      logging({ sink: c.sink, format: ':request-id' }),
      (req, res) => {
        seen = getRequestId(req)
        res.end()
      },
      async (server) => {
        const res = await get(server)
        const id = res.headers['x-request-id'] as string
        expect(id).toMatch(UUID_V4)
        expect(seen).toBe(id)
        await until(() => c.lines.length === 1)
        expect(c.lines[0]).toBe(id)
        expect(c.records[0]?.requestId).toBe(id)
      }
    )
  })

  it('should send the id even when the application clears every header before its answer (Koa error pages)', async () => {
    const c = collector()
    await serving(
      logging({ sink: c.sink, format: ':request-id' }),
      (_req, res) => {
        res.setHeader('x-doomed', '1')
        for (const name of res.getHeaderNames()) res.removeHeader(name)
        res.statusCode = 500
        res.end('Internal Server Error')
      },
      async (server) => {
        const res = await get(server)
        expect(res.headers['x-doomed']).toBeUndefined()
        expect(res.headers['x-request-id']).toMatch(UUID_V4)
        await until(() => c.lines.length === 1)
        expect(c.lines[0]).toBe(res.headers['x-request-id'])
      }
    )
  })

  it('should keep an id the application set on the response itself', async () => {
    await serving(
      logging({ sink: collector().sink, format: ':request-id' }),
      (_req, res) => {
        res.setHeader('X-Request-Id', 'app-chosen')
        res.end()
      },
      async (server) => {
        expect((await get(server)).headers['x-request-id']).toBe('app-chosen')
      }
    )
  })

  it('should give every request its own id', async () => {
    const c = collector()
    await serving(logging({ sink: c.sink, format: ':request-id' }), hello, async (server) => {
      for (let i = 0; i < 20; i++) await get(server)
      await until(() => c.lines.length === 20)
    })
    expect(new Set(c.lines).size).toBe(20)
  })

  const valid = [
    'abc',
    '0',
    'a'.repeat(128),
    '9b2e7c52-7b0f-4c1d-a4f0-3a7f5b9c1d2e',
    '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    'host-1:4242:17',
    'dGhpcyBpcyBiYXNlNjQ+/w==',
    'a_b.c-d',
  ]
  for (const id of valid) {
    it(`should take the valid incoming id ${JSON.stringify(id.length > 40 ? `${id.slice(0, 20)}…(${id.length})` : id)}`, async () => {
      const c = collector()
      await serving(logging({ sink: c.sink, format: ':request-id' }), hello, async (server) => {
        const res = await get(server, '/', { 'x-request-id': id })
        expect(res.headers['x-request-id']).toBe(id)
        await until(() => c.lines.length === 1)
        expect(c.lines[0]).toBe(id)
      })
    })
  }

  const hostile: [string, string | string[]][] = [
    ['empty', ''],
    ['129 characters', 'a'.repeat(129)],
    ['a very long value', 'x'.repeat(8000)],
    ['a space', 'has space'],
    ['a comma (two ids)', 'a,b'],
    ['two headers (joined by Node)', ['id-1', 'id-2']],
    ['a quote', 'a"b'],
    ['a semicolon', 'a;b'],
    ['markup', '<script>alert(1)</script>'],
    ['a log line', 'x" 200 0 "-" "-"'],
    ['a percent sign', '100%'],
    ['a tab', 'a\tb'],
  ]
  for (const [what, value] of hostile) {
    it(`should replace an incoming id with ${what} by a new one`, async () => {
      const c = collector()
      await serving(logging({ sink: c.sink, format: ':request-id' }), hello, async (server) => {
        const res = await get(server, '/', { 'x-request-id': value })
        const id = res.headers['x-request-id'] as string
        expect(id).toMatch(UUID_V4)
        await until(() => c.lines.length === 1)
        expect(c.lines[0]).toBe(id)
      })
    })
  }

  it('should replace ids with control or non-ASCII characters (lenient parser)', async () => {
    const c = collector()
    const server = await listenLenient(
      stack(logging({ sink: c.sink, format: ':request-id :req[x-request-id]' }))(hello)
    )
    try {
      for (const bad of ['a\x1b[31mb', 'a\x7fb', 'caf\xe9', 'a\x85b', 'a\x00b']) {
        const raw = await rawExchange(
          server.port,
          `GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${bad}\r\nConnection: close\r\n\r\n`
        )
        expect(raw).toMatch(/^HTTP\/1\.1 200/)
        expect(raw).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/i)
      }
      await until(() => c.lines.length === 5)
    } finally {
      await server.close()
    }
    for (const line of c.lines) {
      expect(line).toMatch(/^[0-9a-f-]{36} /)
      expect(hasControl(line)).toBe(false)
    }
    expect(c.lines[0]).toMatch(/ a\\u001b\[31mb$/)
  })

  it('should not trust incoming ids with trustIncoming: false', async () => {
    await serving(
      logging({ sink: () => {}, requestId: { trustIncoming: false } }),
      hello,
      async (server) => {
        const res = await get(server, '/', { 'x-request-id': 'client-chosen' })
        expect(res.headers['x-request-id']).toMatch(UUID_V4)
      }
    )
  })

  it('should read and send the header named by the header option', async () => {
    await serving(
      logging({ sink: () => {}, requestId: { header: 'X-Correlation-Id' } }),
      hello,
      async (server) => {
        const res = await get(server, '/', {
          'x-correlation-id': 'corr-1',
          'x-request-id': 'ignored',
        })
        expect(res.headers['x-correlation-id']).toBe('corr-1')
        expect(res.rawHeaders).toContain('X-Correlation-Id')
        expect(res.headers['x-request-id']).toBeUndefined()
      }
    )
  })

  it('should use the generate option, and fall back to a UUID when it misbehaves', async () => {
    const w = captureWarnings()
    try {
      let n = 0
      const ids = ['seq-1', 'bad id', '']
      const log = logging({
        sink: () => {},
        requestId: {
          generate: () => {
            const id = ids[n++]
            if (id === undefined) throw new Error('generator down')
            return id
          },
        },
      })
      await serving(log, hello, async (server) => {
        expect((await get(server)).headers['x-request-id']).toBe('seq-1')
        expect((await get(server)).headers['x-request-id']).toMatch(UUID_V4)
        expect((await get(server)).headers['x-request-id']).toMatch(UUID_V4)
        expect((await get(server)).headers['x-request-id']).toMatch(UUID_V4)
      })
      expect(log.stats().errors).toBe(1)
      const codes = w.warnings.map((x) => (x as Error & { code?: string }).code)
      expect(codes.filter((c) => c === 'SHALLOT_LOGGING_REQUEST_ID')).toHaveLength(1)
    } finally {
      w.restore()
    }
  })

  it('should keep the id on error responses rendered by the stack', async () => {
    await serving(
      logging({ sink: () => {} }),
      () => {
        throw new Error('boom')
      },
      async (server) => {
        const res = await get(server, '/', { 'x-request-id': 'err-1' })
        expect(res.status).toBe(500)
        expect(res.headers['x-request-id']).toBe('err-1')
      }
    )
  })

  it('should send no header and log - with requestId: false', async () => {
    const c = collector()
    let seen: string | undefined = 'unset'
    await serving(
      logging({ sink: c.sink, format: ':request-id', requestId: false }),
      (req, res) => {
        seen = getRequestId(req)
        res.end()
      },
      async (server) => {
        const res = await get(server, '/', { 'x-request-id': 'abc' })
        expect(res.headers['x-request-id']).toBeUndefined()
        await until(() => c.lines.length === 1)
      }
    )
    expect(seen).toBeUndefined()
    expect(c.lines).toEqual(['-'])
  })

  it('should share one id between nested logging layers, sent once', async () => {
    const outer = collector()
    const inner = collector()
    await serving(
      [
        logging({ sink: outer.sink, format: ':request-id' }),
        logging({ sink: inner.sink, format: ':request-id' }),
      ],
      hello,
      async (server) => {
        const res = await get(server)
        const id = res.headers['x-request-id'] as string
        expect(res.rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id')).toHaveLength(1)
        await until(() => outer.lines.length === 1 && inner.lines.length === 1)
        expect(outer.lines).toEqual([id])
        expect(inner.lines).toEqual([id])
      }
    )
  })

  it('should log once when the same layer is met twice', async () => {
    const c = collector()
    const log = logging({ sink: c.sink, format: ':url' })
    await serving([log, log], hello, async (server) => {
      await get(server, '/twice')
      await until(() => c.lines.length >= 1)
      await get(server, '/next')
      await until(() => c.lines.length >= 2)
    })
    expect(c.lines).toEqual(['/twice', '/next'])
  })

  it('should return undefined outside a logging layer', async () => {
    let seen: [string | undefined, string | undefined] = ['x', 'y']
    const server = await listen((req, res) => {
      seen = [getRequestId(req), getTraceId(req)]
      res.end()
    })
    try {
      await get(server)
    } finally {
      await server.close()
    }
    expect(seen).toEqual([undefined, undefined])
  })
})

describe('logging: traceparent', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
  const valid: [string, string][] = [
    ['version 00', `00-${TRACE}-00f067aa0ba902b7-01`],
    ['flags 00', `00-${TRACE}-00f067aa0ba902b7-00`],
    ['a future version with more fields', `01-${TRACE}-00f067aa0ba902b7-09-what-ever`],
    ['a future version without more fields', `cc-${TRACE}-00f067aa0ba902b7-01`],
  ]
  const invalid: [string, string | string[]][] = [
    ['upper-case hex', `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`],
    ['version ff', `ff-${TRACE}-00f067aa0ba902b7-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-00f067aa0ba902b7-01`],
    ['a long parent id', `00-${TRACE}-00f067aa0ba902b7a-01`],
    ['more fields in version 00', `00-${TRACE}-00f067aa0ba902b7-01-extra`],
    ['no flags', `00-${TRACE}-00f067aa0ba902b7`],
    ['one-digit flags', `00-${TRACE}-00f067aa0ba902b7-1`],
    ['garbage', 'not a traceparent'],
    ['surrounding spaces (kept by none)', `00-${TRACE}-00f067aa0ba902b7-01 x`],
    ['two headers', [`00-${TRACE}-00f067aa0ba902b7-01`, `00-${TRACE}-00f067aa0ba902b8-01`]],
  ]

  for (const [what, value] of valid) {
    it(`should read the trace id of ${what}`, async () => {
      const c = collector()
      let seen: string | undefined
      await serving(
        logging({ sink: c.sink, format: ':trace-id' }),
        (req, res) => {
          seen = getTraceId(req)
          res.end()
        },
        async (server) => {
          await get(server, '/', { traceparent: value })
          await until(() => c.lines.length === 1)
        }
      )
      expect(seen).toBe(TRACE)
      expect(c.lines).toEqual([TRACE])
    })
  }

  for (const [what, value] of invalid) {
    it(`should ignore a traceparent with ${what}`, async () => {
      const c = collector()
      await serving(logging({ sink: c.sink, format: ':trace-id' }), hello, async (server) => {
        await get(server, '/', { traceparent: value })
        await until(() => c.lines.length === 1)
      })
      expect(c.lines).toEqual(['-'])
      expect(c.records[0]?.traceId).toBeUndefined()
    })
  }

  it('should not read traceparent with traceparent: false', async () => {
    const c = collector()
    await serving(
      logging({ sink: c.sink, format: ':trace-id', traceparent: false }),
      hello,
      async (server) => {
        await get(server, '/', { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` })
        await until(() => c.lines.length === 1)
      }
    )
    expect(c.lines).toEqual(['-'])
  })
})
