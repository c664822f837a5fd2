/**
 * Handlers that fail, inside the demo's layers: a synchronous throw, a rejection, a throw
 * after the head was sent, a handler that never answers (cut by Node's socket timeout) and a
 * client that never finishes its upload (cut by Node's `requestTimeout`). What the client
 * gets, what the access log says, and that no descriptor or socket is left behind.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { logging } from '@shallot/logging'
import { getPath, type Handler } from '@shallot/stack'
import { delay, failOnUnhandledRejections, type Listening, listen } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  connections,
  demoLayers,
  type Exchange,
  exchange,
  JsonLog,
  type LogLine,
  openFds,
  quietFds,
  settle,
} from './helpers.js'

failOnUnhandledRejections()

/** How often each failing request is repeated (more with FAULTS_FULL=1). */
const REPEAT = process.env.FAULTS_FULL ? 500 : 40
/** Node's `requestTimeout`: the whole request must arrive within it. */
const REQUEST_TIMEOUT = 1000
/** Node's `server.timeout`: a socket with no traffic for this long is destroyed. */
const SOCKET_TIMEOUT = 5000

const routes: Record<string, Handler> = {
  // a plain function that throws before doing anything
  '/sync': () => {
    throw new Error('sync boom: db password=hunter2')
  },
  // an async function whose promise rejects after an await
  '/reject': async () => {
    await nextTurn()
    throw new Error('async boom: db password=hunter2')
  },
  // the head and part of the body are out, then it fails
  '/after-head': async (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' })
    res.write('partial')
    await nextTurn()
    throw new Error('late boom')
  },
  // the same through gzip: 4 KiB of text are compressed, then it fails
  '/after-head-gzip': async (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' })
    res.write('x'.repeat(4096))
    await nextTurn()
    throw new Error('late boom')
  },
  // never answers, never fails
  '/hang': () => {},
  // reads the whole body before answering
  '/upload': async (req, res) => {
    let size = 0
    for await (const chunk of req) size += (chunk as Buffer).length
    res.end(`got ${size} bytes`)
  },
  '/ok': (_req, res) => {
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    res.end('ok')
  },
}

const log = new JsonLog()
let server: Listening
let errorSpy: ReturnType<typeof vi.spyOn>
const logged: unknown[][] = []

beforeAll(async () => {
  errorSpy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    logged.push(args)
  })
  const app = demoLayers(
    (req, res) => {
      const route = routes[getPath(req)]
      if (route === undefined) {
        res.statusCode = 404
        res.end()
        return
      }
      return route(req, res)
    },
    logging({ format: 'json', sink: log.sink })
  )
  server = await listen(app, { requestTimeout: REQUEST_TIMEOUT, connectionsCheckingInterval: 100 })
  server.server.timeout = SOCKET_TIMEOUT
})

afterAll(async () => {
  await server?.close()
  errorSpy?.mockRestore()
})

let seq = 0
/** One request with a fresh request id; resolves with the exchange and the id. */
async function send(
  path: string,
  headers: Record<string, string> = {},
  extra: { method?: string; body?: string; hold?: boolean } = {}
): Promise<{ id: string; res: Exchange }> {
  const id = `h-${path.slice(1)}-${++seq}`
  const res = await exchange(server.url, {
    path,
    ...extra,
    headers: { 'x-request-id': id, ...headers },
  })
  return { id, res }
}

/** The only access log line of a request (waits for it: lines are written at the end). */
async function lineOf(id: string): Promise<LogLine> {
  await settle(() => expect(log.of(id)).toHaveLength(1))
  // nothing more arrives afterwards
  await nextTurn()
  const lines = log.of(id)
  expect(lines).toHaveLength(1)
  return lines[0] as LogLine
}

/** The server holds no connection and the process has `fds` descriptors open. */
async function backTo(fds: number): Promise<void> {
  await settle(async () => {
    expect(await connections(server.server)).toBe(0)
    expect(openFds()).toBe(fds)
  })
}

const NO_LEAK_OF_DETAILS = /boom|hunter2|\bat \S+:\d+|\.ts\b|\.js\b/

describe('a handler that throws synchronously, or rejects', () => {
  it.each(['/sync', '/reject'])(
    '%s: a 500 without details, as text or JSON, and one error line with the stack',
    async (path) => {
      const text = await send(path)
      expect(text.res.status).toBe(500)
      expect(text.res.complete).toBe(true)
      expect(text.res.headers['content-type']).toBe('text/plain; charset=utf-8')
      expect(text.res.body).toBe('Internal Server Error\n')
      expect(text.res.headers['x-request-id']).toBe(text.id)
      expect(text.res.headers['x-content-type-options']).toBe('nosniff')
      expect(text.res.headers['content-security-policy']).toBe("default-src 'none'")

      const json = await send(path, { accept: 'application/json' })
      expect(json.res.status).toBe(500)
      expect(JSON.parse(json.res.body)).toEqual({
        statusCode: 500,
        error: 'Internal Server Error',
        message: 'Internal Server Error',
      })
      for (const { res } of [text, json]) {
        expect(res.body).not.toMatch(NO_LEAK_OF_DETAILS)
        expect(JSON.stringify(res.headers)).not.toMatch(NO_LEAK_OF_DETAILS)
      }

      for (const { id } of [text, json]) {
        const line = await lineOf(id)
        expect(line).toMatchObject({ level: 'error', status: 500, aborted: false })
        expect(line.err?.type).toBe('Error')
        expect(line.err?.message).toMatch(/boom: db password=hunter2$/)
        // the real stack trace, pointing at the handler
        expect(line.err?.stack).toMatch(/handlers\.test\.ts:\d+/)
      }
      // logged once: the access log claimed the error, the stack's console.error stays silent
      expect(logged).toEqual([])
    }
  )
})

describe('a handler that throws after the head was sent', () => {
  it('cuts the connection: the client sees an incomplete response, the log an aborted error', async () => {
    const { id, res } = await send('/after-head')
    expect(res.status).toBe(200)
    expect(res.body).toBe('partial')
    expect(res.complete).toBe(false)
    expect(res.error).toBeDefined()

    const line = await lineOf(id)
    expect(line).toMatchObject({ level: 'error', status: 200, aborted: true })
    expect(line.err?.message).toBe('late boom')
    expect(line.err?.stack).toMatch(/handlers\.test\.ts:\d+/)
    expect(logged).toEqual([])
  })

  it('through gzip, where the head is still held by the compressor: the client sees the connection reset, without any response', async () => {
    const { id, res } = await send('/after-head-gzip', { 'accept-encoding': 'gzip' })
    // zlib had not produced a byte yet, so Node had not written the head to the socket
    expect(res.status).toBeUndefined()
    expect(res.body).toBe('')
    expect(res.error).toBe('ECONNRESET')

    // the log has the status Node considered sent (res.headersSent), and no byte of body
    const line = await lineOf(id)
    expect(line).toMatchObject({ level: 'error', status: 200, bytes: 0, aborted: true })
    expect(line.err?.message).toBe('late boom')
    expect(logged).toEqual([])
  })
})

describe('a handler that never answers', () => {
  it(`outlives requestTimeout, and is cut by server.timeout (${SOCKET_TIMEOUT} ms without traffic): the client sees the connection reset, the log an abort without status`, async () => {
    const pending = send('/hang')
    // requestTimeout bounds receiving the request only: twice that later, it is still open
    await delay(2 * REQUEST_TIMEOUT)
    expect(await connections(server.server)).toBe(1)
    const { id, res } = await pending
    // Node destroys the socket: no status (not even a 408), no body, "socket hang up"
    expect(res.status).toBeUndefined()
    expect(res.body).toBe('')
    expect(res.error).toBe('ECONNRESET')

    const line = await lineOf(id)
    expect(line).toMatchObject({ level: 'warn', status: null, aborted: true })
    expect(line.err).toBeUndefined()
  })
})

describe('a client that never finishes its upload', () => {
  it(`gets Node's own 408 after requestTimeout (${REQUEST_TIMEOUT} ms), and the exchange is logged once, as aborted`, async () => {
    const { id, res } = await send(
      '/upload',
      { 'content-length': '1000', 'content-type': 'text/plain' },
      { method: 'POST', body: 'x'.repeat(10), hold: true }
    )
    // Written by Node on the socket, not by the stack: no X-Request-Id, an empty body.
    expect(res.status).toBe(408)
    expect(res.headers.connection).toBe('close')
    expect(res.body).toBe('')

    const line = await lineOf(id)
    expect(line.aborted).toBe(true)
    // the handler was reading the body: its read fails with the aborted request
    expect(line.status).toBeNull()
  })
})

describe('nothing leaks', () => {
  it(`descriptors and sockets are back to their level after ${REPEAT} of each fault`, async () => {
    // One round first, so that every module and lazy structure is loaded.
    const round = () =>
      Promise.all([
        send('/sync'),
        send('/reject', { accept: 'application/json' }),
        send('/after-head'),
        send('/after-head-gzip', { 'accept-encoding': 'gzip' }),
        send('/ok'),
      ])
    await round()
    const fds = await quietFds(server.server)

    const hung: Promise<unknown>[] = []
    for (let i = 0; i < Math.min(REPEAT, 50); i++) {
      hung.push(send('/hang'))
      hung.push(
        send(
          '/upload',
          { 'content-length': '1000' },
          { method: 'POST', body: 'x'.repeat(10), hold: true }
        )
      )
    }
    const answers: Exchange[] = []
    for (let i = 0; i < REPEAT; i++) {
      for (const { res } of await round()) answers.push(res)
    }
    // everything is answered as documented while the hung requests wait for their timeout
    expect(answers.map((a) => a.status)).toEqual(
      Array.from({ length: REPEAT }, () => [500, 500, 200, undefined, 200]).flat()
    )
    // all complete but the two cut after their head
    expect(answers.filter((a) => a.complete).length).toBe(REPEAT * 3)
    const ids = new Set<string>()
    for (const r of (await Promise.all(hung)) as { res: Exchange; id: string }[]) {
      expect(r.res.error ?? r.res.status).toBeDefined()
      ids.add(r.id)
    }

    await backTo(fds)
    // every exchange logged exactly once (a cut exchange's line follows its socket's close)
    await settle(() => {
      for (const id of ids) expect(log.of(id)).toHaveLength(1)
    })
    expect([...log.counts().values()].every((n) => n === 1)).toBe(true)
    // and the metrics count none of them as still in flight
    const stats = await exchange(server.url, { path: '/stats' })
    expect(JSON.parse(stats.body).requests.active).toBe(0)
    expect(logged).toEqual([])
  })
})
