import { once } from 'node:events'
import { type AddressInfo, createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeRequest, parseResponse, WireClient, WireError } from './support/wire.js'

/*
 * The strict response parser and client the fuzzing relies on: what they call well-formed,
 * and that they report what a split or smuggled response looks like. A property can only
 * fail if these do.
 */

const parse = (text: string, method = 'GET', eof = false) =>
  parseResponse(Buffer.from(text, 'latin1'), method, eof)

describe('parseResponse', () => {
  it('reads a response framed by Content-Length, by chunks, by a 204/304 or HEAD, by the end', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi'
    const cl = parse(`${text}HTTP/1.1 200 OK`)
    expect(cl?.response.status).toBe(200)
    expect(cl?.response.body.toString()).toBe('hi')
    expect(cl?.consumed).toBe(text.length)
    const chunked = parse(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1;x=y\r\n!\r\n0\r\n\r\n'
    )
    expect(chunked?.response.body.toString()).toBe('hi!')
    expect(parse('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n')?.response.body.length).toBe(0)
    expect(
      parse('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n', 'HEAD')?.response.body.length
    ).toBe(0)
    expect(
      parse('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nabc', 'GET', false)
    ).toBeUndefined()
    expect(
      parse(
        'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nabc',
        'GET',
        true
      )?.response.body.toString()
    ).toBe('abc')
  })

  it('waits for the rest of an incomplete response', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Le')).toBeUndefined()
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab')).toBeUndefined()
    expect(
      parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n')
    ).toBeUndefined()
  })

  const malformed: Array<[string, string]> = [
    [
      'a bare LF in the head',
      'HTTP/1.1 200 OK\r\nX-A: a\nX-Injected: 1\r\nContent-Length: 0\r\n\r\n',
    ],
    [
      'a bare CR in the head',
      'HTTP/1.1 200 OK\r\nX-A: a\rX-Injected: 1\r\nContent-Length: 0\r\n\r\n',
    ],
    ['a bare LF before the head ends', 'HTTP/1.1 200 OK\nX-A: a'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n'],
    ['an ESC in a value', 'HTTP/1.1 200 OK\r\nX-A: \x1b[31m\r\nContent-Length: 0\r\n\r\n'],
    ['a DEL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x7f\r\nContent-Length: 0\r\n\r\n'],
    ['a name that is not a token', 'HTTP/1.1 200 OK\r\nX A: a\r\nContent-Length: 0\r\n\r\n'],
    ['a line without a colon', 'HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a malformed status line', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['two Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n'],
    [
      'Content-Length and chunked',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['a malformed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
    ['a malformed chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['no framing on a kept-alive connection', 'HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nabc'],
    ['an interim response', 'HTTP/1.1 100 Continue\r\n\r\n'],
  ]
  for (const [name, text] of malformed) {
    it(`refuses ${name}`, () => {
      expect(() => parse(text)).toThrow(WireError)
    })
  }
})

describe('encodeRequest', () => {
  it('writes the bytes as given, and refuses a value that would end the head early', () => {
    const bytes = encodeRequest({ target: '/a\x00', headers: [['X-A', 'caf\xe9\r\nX-B: 1']] }, 80)
    expect(bytes.toString('latin1')).toBe(
      'GET /a\x00 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nX-A: caf\xe9\r\nX-B: 1\r\n\r\n'
    )
    expect(() =>
      encodeRequest({ target: '/', headers: [['X-A', 'a\r\n\r\nGET / HTTP/1.1']] }, 80)
    ).toThrow(/early/)
  })
})

describe('WireClient', () => {
  let server: Server | undefined
  afterEach(() => {
    server?.close()
    server = undefined
  })

  /** A TCP server answering every request with `answer`. */
  async function answering(answer: string): Promise<number> {
    server = createServer((socket) => {
      socket.on('data', () => socket.write(answer))
      socket.on('error', () => {})
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return (server.address() as AddressInfo).port
  }

  it('reports bytes after a complete response (a split or smuggled response)', async () => {
    const port = await answering(
      'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
    )
    const client = new WireClient(port, 2_000)
    await expect(client.send({ target: '/' })).rejects.toThrow(
      /bytes after the end of the response/
    )
    client.close()
  })

  it('reports bytes that arrive when no response is expected', async () => {
    server = createServer((socket) => {
      socket.on('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\n'), 50)
      })
      socket.on('error', () => {})
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const client = new WireClient((server.address() as AddressInfo).port, 2_000)
    expect((await client.send({ target: '/' })).status).toBe(200)
    await new Promise((r) => setTimeout(r, 150))
    await expect(client.send({ target: '/' })).rejects.toThrow(/no response was expected/)
    client.close()
  })

  it('reports a server that does not answer in time', async () => {
    const port = await answering('')
    const client = new WireClient(port, 300)
    await expect(client.send({ target: '/' })).rejects.toThrow(/no complete response within 300 ms/)
    client.close()
  })
})
