import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { type Handler, HttpError, stack, toConnect } from '@shallot/stack'
import { failOnUnhandledRejections, type Listening, listen } from '@shallot/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type LoggingOptions, logging } from '../src/index.js'
import {
  captureWarnings,
  collector,
  get,
  hasControl,
  hello,
  MemoryStream,
  serving,
  until,
} from './helpers.js'

failOnUnhandledRejections()

afterEach(() => {
  vi.restoreAllMocks()
})

/**
 * Opens a connection, sends a GET, and destroys the connection once `when` resolves, or,
 * when `when` is 'data', once some of the response arrived.
 */
function abortingRequest(
  port: number,
  path: string,
  when: Promise<unknown> | 'data'
): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
    })
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      if (when === 'data' && Buffer.concat(chunks).includes('partial')) socket.destroy()
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    if (when !== 'data') void when.then(() => socket.destroy())
  })
}

/** A promise and its resolver. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Waits a few turns of the event loop, so that a second line would have been written. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30))

describe('logging: when a line is written', () => {
  it('should log an exchange the client aborted mid-body once, with what was sent', async () => {
    const sink = new MemoryStream()
    const server = await listen(
      stack(logging({ format: 'json', sink }))((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' })
        res.write('partial')
        // never ends: the client goes away
      })
    )
    try {
      const got = await abortingRequest(server.port, '/stream', 'data')
      expect(got).toContain('partial')
      await until(() => sink.lines.length === 1)
      await settle()
    } finally {
      await server.close()
    }
    expect(sink.lines).toHaveLength(1)
    expect(JSON.parse(sink.lines[0] as string)).toMatchObject({
      url: '/stream',
      status: 200,
      bytes: 7,
      aborted: true,
      level: 'warn',
    })
  })

  it('should log an exchange aborted before the head with no status', async () => {
    const json = new MemoryStream()
    const text = new MemoryStream()
    const reached = signal()
    const server = await listen(
      stack(
        logging({ format: 'json', sink: json }),
        logging({ format: 'combined', sink: text })
      )(() => {
        reached.resolve()
      })
    )
    try {
      await abortingRequest(server.port, '/slow', reached.promise)
      await until(() => json.lines.length === 1 && text.lines.length === 1)
      await settle()
    } finally {
      await server.close()
    }
    expect(json.lines).toHaveLength(1)
    expect(JSON.parse(json.lines[0] as string)).toMatchObject({
      remoteAddress: '127.0.0.1',
      status: null,
      bytes: 0,
      aborted: true,
      level: 'warn',
    })
    expect(text.lines).toHaveLength(1)
    // The address is known although the socket is gone by then.
    expect(text.lines[0]).toMatch(/^127\.0\.0\.1 - - \[.*\] "GET \/slow HTTP\/1\.1" - - "-" "-"$/)
  })

  it('should log each request of a keep-alive connection once', async () => {
    const c = collector()
    await serving(logging({ sink: c.sink, format: ':url' }), hello, async (server) => {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${server.url}/k${i}`)
        await res.text()
      }
      await until(() => c.lines.length === 5)
      await settle()
    })
    expect(c.lines).toEqual(['/k0', '/k1', '/k2', '/k3', '/k4'])
  })

  it('should log at arrival with immediate: true', async () => {
    const sink = new MemoryStream()
    const handled = signal()
    let linesWhenHandled = -1
    const server = await listen(
      stack(logging({ format: 'combined', sink, immediate: true }))(async (_req, res) => {
        await until(() => sink.lines.length === 1)
        linesWhenHandled = sink.lines.length
        handled.resolve()
        res.end('late')
      })
    )
    try {
      await get(server, '/early')
      await handled.promise
      await settle()
    } finally {
      await server.close()
    }
    expect(linesWhenHandled).toBe(1)
    expect(sink.lines).toHaveLength(1)
    expect(sink.lines[0]).toMatch(/"GET \/early HTTP\/1\.1" - - "-" "-"$/)
  })

  it('should write immediate json lines with the response fields null', async () => {
    const c = collector()
    const sink = new MemoryStream()
    const server = await listen(
      stack(
        logging({ format: 'json', sink, immediate: true }),
        logging({ sink: c.sink, immediate: true })
      )(hello)
    )
    try {
      await get(server, '/i')
      await until(() => sink.lines.length === 1 && c.records.length === 1)
    } finally {
      await server.close()
    }
    expect(JSON.parse(sink.lines[0] as string)).toMatchObject({
      level: 'info',
      url: '/i',
      status: null,
      bytes: null,
      duration: null,
      aborted: false,
    })
    expect(c.records[0]).toMatchObject({
      phase: 'request',
      status: undefined,
      bytes: undefined,
      duration: undefined,
      responseTime: undefined,
    })
  })

  it('should skip what skip(req, res) refuses, reading the response', async () => {
    const c = collector()
    const skip = vi.fn((req: IncomingMessage, res: ServerResponse) => {
      expect(req.url).toBeTypeOf('string')
      return res.statusCode < 400
    })
    await serving(
      logging({ sink: c.sink, format: ':url :status', skip }),
      (req, res) => {
        res.statusCode = req.url === '/bad' ? 404 : 200
        res.end()
      },
      async (server) => {
        await get(server, '/ok')
        await get(server, '/bad')
        await get(server, '/ok2')
        await until(() => skip.mock.calls.length === 3)
      }
    )
    expect(c.lines).toEqual(['/bad 404'])
  })

  it('should skip at arrival with immediate: true', async () => {
    const c = collector()
    await serving(
      logging({
        sink: c.sink,
        format: ':url',
        immediate: true,
        skip: (req) => req.url === '/health',
      }),
      hello,
      async (server) => {
        await get(server, '/health')
        await get(server, '/real')
        await until(() => c.lines.length === 1)
        await settle()
      }
    )
    expect(c.lines).toEqual(['/real'])
  })

  it('should write the line when skip throws, and report it once', async () => {
    const w = captureWarnings()
    try {
      const c = collector()
      const log = logging({
        sink: c.sink,
        format: ':url',
        skip: () => {
          throw new Error('skip bug')
        },
      })
      await serving(log, hello, async (server) => {
        await get(server, '/a')
        await get(server, '/b')
        await until(() => c.lines.length === 2)
      })
      expect(c.lines).toEqual(['/a', '/b'])
      expect(log.stats().errors).toBe(2)
      const mine = w.warnings.filter((x) => /skip\(\) threw/.test(x.message))
      expect(mine).toHaveLength(1)
      expect(mine[0]?.message).toMatch(/^\[@shallot\/logging\] skip\(\) threw .*: skip bug/)
    } finally {
      w.restore()
    }
  })
})

describe('logging: errors from the stack', () => {
  const boom: Handler = () => {
    throw new Error('boom')
  }

  async function run(
    options: LoggingOptions,
    handler: Handler,
    path = '/boom'
  ): Promise<{ lines: string[]; consoleCalls: unknown[][]; status: number }> {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    const sink = new MemoryStream()
    let status = 0
    let server: Listening | undefined
    try {
      server = await listen(stack(logging({ sink, ...options }))(handler))
      // (a response aborted by the stack after its head rejects: status 0)
      status = await get(server, path).then(
        (res) => res.status,
        () => 0
      )
      await until(() => sink.lines.length >= 1)
      await settle()
    } finally {
      await server?.close()
    }
    return { lines: sink.lines, consoleCalls: spy.mock.calls, status }
  }

  it('should log a thrown error once, in the json line, with its stack, and keep the stack silent', async () => {
    const { lines, consoleCalls, status } = await run({ format: 'json' }, boom)
    expect(status).toBe(500)
    expect(consoleCalls).toEqual([])
    expect(lines).toHaveLength(1)
    const obj = JSON.parse(lines[0] as string) as {
      level: string
      status: number
      err: { type: string; message: string; stack: string }
    }
    expect(obj.level).toBe('error')
    expect(obj.status).toBe(500)
    expect(obj.err.type).toBe('Error')
    expect(obj.err.message).toBe('boom')
    expect(obj.err.stack).toMatch(/^Error: boom\n {4}at /)
    expect(obj.err.stack).toContain('lifecycle.test.ts')
    expect(JSON.stringify(obj)).not.toMatch(/failed with status/)
  })

  it('should log an async rejection the same way', async () => {
    const { lines, consoleCalls } = await run({ format: 'json' }, async () => {
      await new Promise((r) => setTimeout(r, 1))
      throw new TypeError('async boom')
    })
    expect(consoleCalls).toEqual([])
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'error',
      err: { type: 'TypeError', message: 'async boom' },
    })
  })

  it('should follow a text line with one escaped error line', async () => {
    const { lines, consoleCalls } = await run(
      { format: 'combined' },
      () => {
        throw new Error('bad\ninput\x1b[31m')
      },
      '/boom?token=t'
    )
    expect(consoleCalls).toEqual([])
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/"GET \/boom\?token=\[REDACTED\] HTTP\/1\.1" 500 /)
    expect(lines[1]).toMatch(
      /^\[error\] GET \/boom\?token=\[REDACTED\] request-id=[0-9a-f-]{36}: Error: bad\\ninput\\u001b\[31m\\n {4}at /
    )
    expect(hasControl(lines[1] as string)).toBe(false)
  })

  it('should log an error after the head as an aborted exchange at error level', async () => {
    const { lines, consoleCalls } = await run({ format: 'json' }, async (_req, res) => {
      res.writeHead(200)
      res.write('half')
      await new Promise((r) => setTimeout(r, 5))
      throw new Error('mid-stream')
    })
    expect(consoleCalls).toEqual([])
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'error',
      status: 200,
      bytes: 4,
      aborted: true,
      err: { message: 'mid-stream' },
    })
  })

  it('should log a refusal (4xx HttpError) with its message but no stack, at warn level', async () => {
    const { lines, consoleCalls, status } = await run({ format: 'json' }, () => {
      throw new HttpError(403, 'not yours')
    })
    expect(status).toBe(403)
    expect(consoleCalls).toEqual([])
    expect(lines).toHaveLength(1)
    const obj = JSON.parse(lines[0] as string) as { level: string; err: Record<string, string> }
    expect(obj.level).toBe('warn')
    expect(obj.err).toEqual({ type: 'HttpError', message: 'not yours' })
  })

  it('should not add an error line for a refusal in text formats', async () => {
    const { lines } = await run({ format: 'tiny' }, () => {
      throw new HttpError(401, 'who are you')
    })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^GET \/boom 401 /)
  })

  it('should leave errors to the stack with errors: false', async () => {
    const { lines, consoleCalls } = await run({ format: 'json', errors: false }, boom)
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string)).not.toHaveProperty('err')
    expect(consoleCalls).toHaveLength(1)
    expect(String(consoleCalls[0]?.[0])).toMatch(/500 GET \/boom/)
  })

  it('should leave errors to the stack with immediate: true', async () => {
    const { lines, consoleCalls } = await run({ format: 'json', immediate: true }, boom)
    expect(lines).toHaveLength(1)
    expect(consoleCalls).toHaveLength(1)
  })

  it('should log a failed request even when skip would skip it', async () => {
    const { lines, consoleCalls } = await run({ format: 'json', skip: () => true }, boom)
    expect(consoleCalls).toEqual([])
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string)).toMatchObject({ err: { message: 'boom' } })
  })

  it('should hand the error to a function sink in the record', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    const c = collector()
    const err = new RangeError('out of range')
    await serving(
      logging({ sink: c.sink }),
      () => {
        throw err
      },
      async (server) => {
        await get(server)
        await until(() => c.records.length === 1)
      }
    )
    expect(spy).not.toHaveBeenCalled()
    expect(c.records[0]?.error).toBe(err)
    expect(c.records[0]?.level).toBe('error')
    expect(c.lines[0]).toMatch(/" 500 /)
  })

  it('should report through an onError of the stack too, and still log once', async () => {
    const onError = vi.fn()
    const sink = new MemoryStream()
    const server = await listen(stack({ onError }, logging({ format: 'json', sink }))(boom))
    try {
      await get(server)
      await until(() => sink.lines.length === 1)
      await settle()
    } finally {
      await server.close()
    }
    expect(onError).toHaveBeenCalledTimes(1)
    expect(sink.lines).toHaveLength(1)
  })
})

describe('logging: requests the stack refuses', () => {
  it('should log them with their 400 when logging comes first in the stack', async () => {
    const sink = new MemoryStream()
    const server = await listen(
      stack(
        logging({ format: 'json', sink }),
        (next) => (req, res) => next(req, res)
      )((_req, res) => {
        res.end('ok')
      })
    )
    try {
      expect((await get(server, '/a/%2F/b')).status).toBe(400)
      expect((await get(server, '/x/%00')).status).toBe(400)
      expect((await get(server, '/fine')).status).toBe(200)
      await until(() => sink.lines.length === 3)
    } finally {
      await server.close()
    }
    const lines = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ url: '/a/%2F/b', status: 400, level: 'warn' })
    expect(lines[1]).toMatchObject({ url: '/x/%00', status: 400 })
    expect(lines[2]).toMatchObject({ url: '/fine', status: 200 })
  })
})

describe('logging: outside a stack', () => {
  it('should log the requests the stack refuses before any layer runs, and its errors once', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    const sink = new MemoryStream()
    const log = logging({ format: 'json', sink })
    const server = await listen(
      log(
        stack((next) => (req, res) => next(req, res))((req) => {
          if (req.url === '/boom') throw new Error('inner boom')
          throw new HttpError(404)
        })
      )
    )
    try {
      expect((await get(server, '/a/%2F/b')).status).toBe(400)
      expect((await get(server, '/boom')).status).toBe(500)
      await until(() => sink.lines.length === 2)
    } finally {
      await server.close()
    }
    const [refused, failed] = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(refused).toMatchObject({ url: '/a/%2F/b', status: 400, level: 'warn' })
    expect(failed).toMatchObject({ url: '/boom', status: 500, err: { message: 'inner boom' } })
    expect(spy).not.toHaveBeenCalled()
  })
})

describe('logging: through toConnect (Express, Connect)', () => {
  it("should log Express's originalUrl and work as a Connect middleware", async () => {
    const c = collector()
    const mw = toConnect(logging({ sink: c.sink, format: ':url :status :request-id' }))
    const server = await listen((req, res) => {
      // What Express does for app.use('/mounted', router)
      ;(req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url
      req.url = (req.url ?? '/').replace(/^\/mounted/, '') || '/'
      mw(req, res, () => {
        res.end('ok')
      })
    })
    try {
      const res = await get(server, '/mounted/x?token=t', { 'x-request-id': 'express-1' })
      expect(res.headers['x-request-id']).toBe('express-1')
      await until(() => c.lines.length === 1)
    } finally {
      await server.close()
    }
    expect(c.lines).toEqual(['/mounted/x?token=[REDACTED] 200 express-1'])
  })
})
