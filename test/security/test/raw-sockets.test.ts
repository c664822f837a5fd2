import { connect, type Socket } from 'node:net'
import { delay, failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY, Demo, NODE_400, NODE_431 } from './support/demo.js'
import { header, parseResponse, WireClient, type WireResponse } from './support/wire.js'

/*
 * Malformed requests written to the full demo stack with node:net, in small pieces (one byte
 * at a time for ordinary sizes, 1 KiB for the 64 KiB ones) with a turn of the event loop
 * between them, as a slow or hostile client would. Each case asserts the exact answer: Node's
 * own refusal (its parser rejects the request before any layer runs: nothing is logged) or
 * the stack's 400 (logged, with its reason in the body); and afterwards a well-formed request
 * on a new connection is answered 200. Slowloris clients that never finish the head are
 * closed by Node's headersTimeout while other clients are served.
 */

failOnUnhandledRejections()

/** Small timeouts, checked often, so the slowloris cases take a few seconds, not minutes. */
const HEADERS_TIMEOUT = 1_000
const REQUEST_TIMEOUT = 2_000
const CHECK_INTERVAL = 100

/** Node's answer to a connection whose head did not arrive within headersTimeout. */
const NODE_408 = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'

let demo: Demo

beforeAll(async () => {
  demo = await Demo.start({
    server: {
      headersTimeout: HEADERS_TIMEOUT,
      requestTimeout: REQUEST_TIMEOUT,
      connectionsCheckingInterval: CHECK_INTERVAL,
    },
  })
})

afterAll(async () => {
  await demo?.close()
})

interface Received {
  bytes: Buffer
  /** ms from the first byte written to the server's close. */
  closedAfter: number
}

/**
 * Writes `request` in pieces of `chunk` bytes with setImmediate between them (stopping once
 * the server answered or closed), then reads until the server closes, at most `waitMs`.
 */
function sendRaw(request: string | Buffer, chunk = 1, waitMs = 5_000): Promise<Received> {
  const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request
  return new Promise((resolve, reject) => {
    const socket = connect(demo.port, '127.0.0.1')
    const received: Buffer[] = []
    let closed = false
    let started = 0
    const timer = setTimeout(() => {
      socket.destroy()
      reject(
        new Error(
          `the server did not close within ${waitMs} ms; got ${JSON.stringify(Buffer.concat(received).toString('latin1').slice(0, 300))}`
        )
      )
    }, waitMs)
    socket.on('data', (d: Buffer) => received.push(d))
    socket.on('error', () => {})
    socket.on('close', () => {
      closed = true
      clearTimeout(timer)
      resolve({ bytes: Buffer.concat(received), closedAfter: Date.now() - started })
    })
    socket.on('connect', () => {
      started = Date.now()
      let at = 0
      const next = () => {
        if (closed || received.length > 0 || at >= bytes.length) return
        socket.write(bytes.subarray(at, at + chunk))
        at += chunk
        setImmediate(next)
      }
      next()
    })
  })
}

/** A request that asks for the connection to be closed after it, so its answer ends there. */
function request(target: string, headers = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: shallot.test\r\n${headers}Connection: close\r\n\r\n`
}

/** The only response in `bytes`, read by the strict parser. */
function only(bytes: Buffer, method = 'GET'): WireResponse {
  const parsed = parseResponse(bytes, method, true)
  if (parsed === undefined) throw new Error('no complete response')
  expect(parsed.consumed, 'bytes after the response').toBe(bytes.length)
  return parsed.response
}

/** After each case: a well-formed request on a new connection is answered 200. */
async function expectStillServing(): Promise<void> {
  const client = new WireClient(demo.port)
  try {
    const res = await demo.exchange({ target: '/' }, client)
    expect(res.status).toBe(200)
  } finally {
    client.close()
  }
}

/** Node refused it: exactly its canned answer, the connection closed, nothing logged. */
async function expectNodeRefusal(raw: string | Buffer, answer: string, chunk = 1): Promise<void> {
  const { bytes } = await sendRaw(raw, chunk)
  expect(bytes.toString('latin1')).toBe(answer)
  expect(await demo.logLines(0)).toEqual([])
  await expectStillServing()
}

/** The stack refused the path: a 400 rendered by its boundary, with the reason, and logged. */
async function expectStackRefusal(raw: string, reason: string): Promise<void> {
  const { bytes } = await sendRaw(raw)
  const res = only(bytes)
  expect(res.status).toBe(400)
  expect(res.body.toString('latin1')).toBe(`Bad Request: ${reason}\n`)
  expect(header(res, 'content-type')).toBe('text/plain; charset=utf-8')
  expect(header(res, 'x-content-type-options')).toBe('nosniff')
  expect(header(res, 'x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  const lines = await demo.logLines(1)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \S+ HTTP\/1\.1" 400 \d+ "-" "-"$/)
  await expectStillServing()
}

describe("malformed requests get Node's 400, and the server goes on", () => {
  const refused: Array<[string, string]> = [
    ['an invalid character in the method', 'G@T / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['an unknown protocol', 'GET / FOO/1.1\r\nHost: x\r\n\r\n'],
    ['an unsupported version', 'GET / HTTP/1.2\r\nHost: x\r\n\r\n'],
    ['a tab between method and target', 'GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a space after the version', 'GET / HTTP/1.1 \r\nHost: x\r\n\r\n'],
    ['a space inside the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a target that is neither a path nor a URL', 'GET foo HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a TLS handshake on the plain-text port', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
    ['a raw NUL in the target', 'GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a raw control character in the query', 'GET /?a=\x01 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a raw non-ASCII byte in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a NUL in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n'],
    ['a NUL in a header name', 'GET / HTTP/1.1\r\nHost: x\r\nX-\x00: a\r\n\r\n'],
    [
      'an ESC sequence in a header value',
      'GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: \x1b[31mred\r\n\r\n',
    ],
    ['a bare CR in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n'],
    ['a bare LF in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\nX-B: b\r\n\r\n'],
    ['a bare CR ending the request line', 'GET / HTTP/1.1\rHost: x\r\n\r\n'],
    ['lines ended by a bare LF', 'GET / HTTP/1.1\nHost: x\n\n'],
    ['a head ended by CRLF LF', 'GET / HTTP/1.1\r\nHost: x\r\n\n'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n'],
    ['an obsolete line folding', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'],
    [
      'two Content-Length headers that differ',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    ],
    [
      'two identical Content-Length headers',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na',
    ],
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'Transfer-Encoding: chunked twice',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'a Content-Length that is not a number',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n',
    ],
    ['a negative Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
  ]
  for (const [name, raw] of refused) {
    it(name, async () => {
      await expectNodeRefusal(raw, NODE_400)
    })
  }

  it('an HTTP/1.1 request without Host (Node answers its own 400)', async () => {
    const { bytes } = await sendRaw('GET / HTTP/1.1\r\nConnection: close\r\n\r\n')
    const res = only(bytes)
    expect(res.status).toBe(400)
    expect(res.body.length).toBe(0)
    expect(header(res, 'x-request-id')).toBeUndefined()
    expect(res.headers.map(([n]) => n.toLowerCase()).sort()).toEqual([
      'connection',
      'date',
      'transfer-encoding',
    ])
    expect(await demo.logLines(0)).toEqual([])
    await expectStillServing()
  })
})

describe('64 KiB heads get 431', () => {
  it('one 64 KiB header value', async () => {
    await expectNodeRefusal(
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65_536)}\r\n\r\n`,
      NODE_431,
      1_024
    )
  })

  it('64 KiB of small headers', async () => {
    const headers = Array.from({ length: 2_048 }, (_, i) => `X-H${i}: ${'v'.repeat(24)}\r\n`).join(
      ''
    )
    await expectNodeRefusal(`GET / HTTP/1.1\r\nHost: x\r\n${headers}\r\n`, NODE_431, 1_024)
  })

  it('a 64 KiB request target', async () => {
    await expectNodeRefusal(
      `GET /${'a'.repeat(65_536)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      NODE_431,
      1_024
    )
  })

  it('a 64 KiB Cookie', async () => {
    await expectNodeRefusal(
      `GET / HTTP/1.1\r\nHost: x\r\nCookie: sid=${'A'.repeat(65_536)}\r\n\r\n`,
      NODE_431,
      1_024
    )
  })
})

describe("paths the stack cannot canonicalise get the stack's 400", () => {
  const cases: Array<[string, string, string]> = [
    ['invalid percent-encoding', '/%zz', 'invalid percent-encoding in path'],
    ['a truncated percent-encoding', '/a%', 'invalid percent-encoding in path'],
    ['a percent-encoding of one digit', '/a%4', 'invalid percent-encoding in path'],
    ['an encoded NUL', '/%00', 'control character in path'],
    ['an encoded NUL in /api', '/api/test%00', 'control character in path'],
    ['an encoded CRLF', '/a%0D%0ASet-Cookie:%20x=1', 'control character in path'],
    ['an encoded /', '/a%2Fb', 'encoded "/" in path'],
    ['an encoded \\', '/a%5Cb', 'encoded "\\" in path'],
    ['a raw \\', '/a\\b', '"\\" in path'],
    ['invalid UTF-8', '/%ff', 'invalid UTF-8 in path'],
    ['an overlong UTF-8 /', '/%c0%af', 'invalid UTF-8 in path'],
    ['a UTF-8 surrogate', '/%ed%a0%80', 'invalid UTF-8 in path'],
    ['.. above the root', '/..', 'path climbs above the root'],
    ['.. above the root, deeper', '/a/../../etc/passwd', 'path climbs above the root'],
    [
      'encoded .. out of /static',
      '/static/%2e%2e/%2e%2e/package.json',
      'path climbs above the root',
    ],
    ['a URL that is not http(s)', 'ftp://x/', 'invalid request target'],
  ]
  for (const [name, target, reason] of cases) {
    it(`${name}: ${target}`, async () => {
      await expectStackRefusal(request(target), reason)
    })
  }

  it('an encoded / in /api is a 400 even with the key: never the API', async () => {
    await expectStackRefusal(
      request('/api%2Ftest', `X-API-Key: ${API_KEY}\r\n`),
      'encoded "/" in path'
    )
  })
})

describe('duplicated Host', () => {
  it('Node takes the first Host (and drops the second): the page shows it, 200', async () => {
    const { bytes } = await sendRaw(
      'GET / HTTP/1.1\r\nHost: first.example\r\nHost: second.example\r\nConnection: close\r\n\r\n'
    )
    const res = only(bytes)
    expect(res.status).toBe(200)
    const page = res.body.toString('utf8')
    expect(page).toContain('http://first.example/api/test')
    expect(page).not.toContain('second.example')
    expect(await demo.logLines(1)).toHaveLength(1)
    await expectStillServing()
  })
})

describe('slowloris: clients that never finish the head are closed by headersTimeout', () => {
  it('partial heads trickled a byte at a time, and silent connections, are closed while others are served', async () => {
    const slow: Array<Promise<Received & { kind: string }>> = []
    const sockets: Socket[] = []
    const open = (kind: string, start: string, trickle: boolean) =>
      new Promise<Received & { kind: string }>((resolve, reject) => {
        const socket = connect(demo.port, '127.0.0.1')
        sockets.push(socket)
        const received: Buffer[] = []
        let started = Date.now()
        let ticker: NodeJS.Timeout | undefined
        const bound = setTimeout(() => {
          clearInterval(ticker)
          socket.destroy()
          reject(new Error(`a ${kind} connection was still open after 6 s`))
        }, 6_000)
        socket.on('data', (d: Buffer) => received.push(d))
        socket.on('error', () => {})
        socket.on('connect', () => {
          started = Date.now()
          socket.write(start)
          if (trickle) {
            let n = 0
            ticker = setInterval(() => {
              // `X-Slow: aaaa…`, one byte every 50 ms, never the blank line.
              socket.write(n++ === 0 ? 'X-Slow: ' : 'a')
            }, 50)
          }
        })
        socket.on('close', () => {
          clearInterval(ticker)
          clearTimeout(bound)
          resolve({ kind, bytes: Buffer.concat(received), closedAfter: Date.now() - started })
        })
      })
    for (let i = 0; i < 10; i++) slow.push(open('trickling', 'GET / HTTP/1.1\r\nHost: x\r\n', true))
    for (let i = 0; i < 5; i++)
      slow.push(open('request-line-only', 'GET /api/test HTTP/1.1\r\n', true))
    for (let i = 0; i < 5; i++) slow.push(open('silent', '', false))

    // Meanwhile, ordinary clients are served, quickly.
    const opened = Date.now()
    for (const at of [200, 500, 800]) {
      await delay(Math.max(0, opened + at - Date.now()))
      const t0 = Date.now()
      await expectStillServing()
      expect(Date.now() - t0, `a request at ${at} ms`).toBeLessThan(500)
    }

    const results = await Promise.all(slow)
    for (const r of results) {
      // Closed once headersTimeout passed (checked every CHECK_INTERVAL ms), not before.
      expect(r.closedAfter, r.kind).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50)
      expect(r.closedAfter, r.kind).toBeLessThan(HEADERS_TIMEOUT + CHECK_INTERVAL + 1_500)
      expect(['', NODE_408], r.kind).toContain(r.bytes.toString('latin1'))
    }
    // None of them reached the app.
    expect(await demo.logLines(0)).toEqual([])
    await expectStillServing()
    for (const s of sockets) s.destroy()
  }, 15_000)
})
