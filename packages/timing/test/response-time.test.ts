import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError, stack } from '@shallot/stack'
import { delay, failOnUnhandledRejections, listen, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { responseTime } from '../src/index.js'

failOnUnhandledRejections()

const ok = (_req: IncomingMessage, res: ServerResponse) => {
  res.end('ok')
}
const quiet = { onError: () => {} }

async function get(app: ReturnType<ReturnType<typeof stack>>, path = '/') {
  const server = await listen(app)
  try {
    return await rawRequest(server.url, { path })
  } finally {
    await server.close()
  }
}

describe('responseTime: the header', () => {
  it('should set X-Response-Time in ms with 3 digits by default', async () => {
    const res = await get(stack(responseTime())(ok))
    expect(res.status).toBe(200)
    expect(res.headers['x-response-time']).toMatch(/^\d+\.\d{3}ms$/)
    expect(res.body).toBe('ok')
  })

  it('should measure until the head is written, on a monotonic clock', async () => {
    const res = await get(
      stack(responseTime())(async (_req, res) => {
        await delay(60)
        res.end('late')
      })
    )
    const ms = Number.parseFloat(res.headers['x-response-time'] as string)
    expect(ms).toBeGreaterThanOrEqual(50)
    expect(ms).toBeLessThan(5000)
  })

  it('should stop the clock at the first chunk of a streamed response', async () => {
    const res = await get(
      stack(responseTime())(async (_req, res) => {
        res.write('first\n')
        await delay(120)
        res.end('last\n')
      })
    )
    expect(res.headers['transfer-encoding']).toBe('chunked')
    expect(res.body).toBe('first\nlast\n')
    expect(Number.parseFloat(res.headers['x-response-time'] as string)).toBeLessThan(100)
  })

  it('should be on error responses rendered by the stack', async () => {
    const sync = await get(
      stack(
        quiet,
        responseTime()
      )(() => {
        throw new Error('boom')
      })
    )
    expect(sync.status).toBe(500)
    expect(sync.headers['x-response-time']).toMatch(/^\d+\.\d{3}ms$/)
    const async = await get(
      stack(
        quiet,
        responseTime()
      )(async () => {
        await delay(5)
        throw new HttpError(404)
      })
    )
    expect(async.status).toBe(404)
    expect(async.headers['x-response-time']).toMatch(/ms$/)
  })

  it('should keep a header that an inner layer or the app already set', async () => {
    const res = await get(
      stack(responseTime())((_req, res) => {
        res.setHeader('X-Response-Time', 'mine')
        res.end()
      })
    )
    expect(res.headers['x-response-time']).toBe('mine')
    // two layers: the inner one sets it, the outer one keeps it (one header line)
    const twice = await get(stack(responseTime({ digits: 0 }), responseTime({ digits: 5 }))(ok))
    expect(twice.headers['x-response-time']).toMatch(/^\d+\.\d{5}ms$/)
    expect(twice.rawHeaders.filter((h) => h.toLowerCase() === 'x-response-time')).toHaveLength(1)
  })
})

describe('responseTime: options', () => {
  it('should honour digits', async () => {
    expect((await get(stack(responseTime({ digits: 0 }))(ok))).headers['x-response-time']).toMatch(
      /^\d+ms$/
    )
    expect((await get(stack(responseTime({ digits: 6 }))(ok))).headers['x-response-time']).toMatch(
      /^\d+\.\d{6}ms$/
    )
  })

  it('should drop the unit with suffix: false', async () => {
    const res = await get(stack(responseTime({ suffix: false, digits: 2 }))(ok))
    expect(res.headers['x-response-time']).toMatch(/^\d+\.\d{2}$/)
  })

  it('should use another header name', async () => {
    const res = await get(stack(responseTime({ header: 'Response-Time' }))(ok))
    expect(res.headers['response-time']).toMatch(/^\d+\.\d{3}ms$/)
    expect(res.headers['x-response-time']).toBeUndefined()
  })

  it('should reject invalid options at start-up', () => {
    const cases: [string, unknown][] = [
      ['digits', -1],
      ['digits', 7],
      ['digits', 1.5],
      ['digits', '3'],
      ['header', ''],
      ['header', 'X Response'],
      ['header', 'X-Time\r\n'],
      ['header', 42],
      ['suffix', 'ms'],
      ['suffix', 1],
    ]
    for (const [name, value] of cases) {
      expect(() => responseTime({ [name]: value } as never), `${name}: ${String(value)}`).toThrow(
        new RegExp(`^\\[@shallot/timing\\] option "${name}" must be`)
      )
    }
    expect(() => responseTime({ headerName: 'x' } as never)).toThrow(
      /responseTime\(options\): unknown option "headerName" \(known: header, digits, suffix\)/
    )
    for (const bad of [null, 42, 'x', []]) {
      expect(() => responseTime(bad as never)).toThrow(TypeError)
    }
  })
})
