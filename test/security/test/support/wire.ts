import { connect, type Socket } from 'node:net'

/*
 * HTTP/1.1 on the wire, without Node's client: requests are bytes we write ourselves (so
 * they may carry what Node's client refuses to send: CR, LF, NUL, obs-text, bad framing),
 * and responses are parsed by a strict parser of our own, so a response Node's client would
 * tolerate (a bare LF, a control character in a header, two Content-Lengths, bytes after
 * the end) is reported instead.
 */

/** A response that is not well-formed HTTP/1.1, or an exchange that went wrong. */
export class WireError extends Error {
  override name = 'WireError'
}

/** One parsed response. Header names keep their case; values are latin1 (byte = char). */
export interface WireResponse {
  status: number
  reason: string
  headers: ReadonlyArray<readonly [string, string]>
  /** The body as framed (still content-encoded, if it was). */
  body: Buffer
  /** The whole response as received, head and body. */
  raw: Buffer
  /** The server said it closes the connection (or will, for an HTTP/1.0 exchange). */
  close: boolean
}

/** The first value of a header (case-insensitive), or undefined. */
export function header(res: WireResponse, name: string): string | undefined {
  const lower = name.toLowerCase()
  for (const [n, v] of res.headers) if (n.toLowerCase() === lower) return v
  return undefined
}

/** Every value of a header (case-insensitive), in order. */
export function headerAll(res: WireResponse, name: string): string[] {
  const lower = name.toLowerCase()
  return res.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v)
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A reason phrase or field value: HTAB, SP, VCHAR, obs-text (RFC 9112 §4, RFC 9110 §5.5). */
const FIELD_TEXT = /^[\t\x20-\x7e\x80-\xff]*$/
const CRLF = Buffer.from('\r\n')
const HEAD_END = Buffer.from('\r\n\r\n')

/** Printable form of bytes for messages: latin1 with controls escaped, cut at `max`. */
export function show(bytes: Buffer | string, max = 300): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1')
  const cut = text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text
  return JSON.stringify(cut)
}

/**
 * Parses one response at the start of `buf`. Returns undefined while it is incomplete (for a
 * body framed by the end of the connection: until `eof`), else the response and how many
 * bytes it took. Throws a {@link WireError} for anything that is not well-formed.
 */
export function parseResponse(
  buf: Buffer,
  method: string,
  eof: boolean
): { response: WireResponse; consumed: number } | undefined {
  const headEnd = buf.indexOf(HEAD_END)
  if (headEnd === -1) {
    // A head never uses a bare LF: seeing one before CRLFCRLF is already an error.
    checkPartialHead(buf)
    if (eof) throw new WireError(`connection closed inside the response head: ${show(buf)}`)
    return undefined
  }
  const head = buf.subarray(0, headEnd).toString('latin1')
  const lines = head.split('\r\n')
  for (const line of lines) {
    if (line.includes('\r') || line.includes('\n')) {
      throw new WireError(`bare CR or LF in the response head: ${show(line)}`)
    }
  }
  const statusLine = lines[0] as string
  const m = /^HTTP\/1\.1 ([1-5]\d\d) (.*)$/.exec(statusLine)
  if (m === null) throw new WireError(`malformed status line: ${show(statusLine)}`)
  const status = Number(m[1])
  const reason = m[2] as string
  if (!FIELD_TEXT.test(reason)) throw new WireError(`control character in the reason phrase`)
  const headers: Array<readonly [string, string]> = []
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) throw new WireError(`malformed header line: ${show(line)}`)
    const name = line.slice(0, colon)
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    if (!TOKEN.test(name)) throw new WireError(`header name is not a token: ${show(name)}`)
    if (!FIELD_TEXT.test(value)) {
      throw new WireError(`control character in the value of ${name}: ${show(value)}`)
    }
    headers.push([name, value])
  }
  const res = { status, reason, headers, body: Buffer.alloc(0), raw: buf, close: false }
  const connection = headerAll(res, 'connection').join(',').toLowerCase()
  const close = /(^|,)\s*close\s*(,|$)/.test(connection)
  if (status < 200) throw new WireError(`unexpected interim response ${status}`)

  const lengths = headerAll(res, 'content-length')
  const codings = headerAll(res, 'transfer-encoding')
  if (lengths.length > 1) throw new WireError(`${lengths.length} Content-Length headers`)
  if (lengths.length === 1 && codings.length > 0) {
    throw new WireError('both Content-Length and Transfer-Encoding')
  }
  const bodyStart = headEnd + 4
  const noBody = method === 'HEAD' || status === 204 || status === 304
  let bodyEnd: number
  let body: Buffer
  if (noBody) {
    bodyEnd = bodyStart
    body = Buffer.alloc(0)
    if (status === 204 && lengths.length > 0) throw new WireError('Content-Length on a 204')
  } else if (codings.length > 0) {
    if (codings.join(',').trim().toLowerCase() !== 'chunked') {
      throw new WireError(`unexpected Transfer-Encoding ${show(codings.join(','))}`)
    }
    const chunked = parseChunked(buf, bodyStart)
    if (chunked === undefined) {
      if (eof) throw new WireError(`connection closed inside a chunked body: ${show(buf)}`)
      return undefined
    }
    bodyEnd = chunked.end
    body = chunked.body
  } else if (lengths.length === 1) {
    const text = lengths[0] as string
    if (!/^\d{1,15}$/.test(text)) throw new WireError(`malformed Content-Length ${show(text)}`)
    const length = Number(text)
    if (buf.length < bodyStart + length) {
      if (eof)
        throw new WireError(
          `connection closed after ${buf.length - bodyStart} of ${length} body bytes`
        )
      return undefined
    }
    bodyEnd = bodyStart + length
    body = buf.subarray(bodyStart, bodyEnd)
  } else {
    // Framed by the end of the connection (RFC 9112 §6.3, item 8).
    if (!close)
      throw new WireError('a body with neither length nor chunking on a kept-alive connection')
    if (!eof) return undefined
    bodyEnd = buf.length
    body = buf.subarray(bodyStart)
  }
  const response: WireResponse = {
    status,
    reason,
    headers,
    body: Buffer.from(body),
    raw: Buffer.from(buf.subarray(0, bodyEnd)),
    close,
  }
  return { response, consumed: bodyEnd }
}

function checkPartialHead(buf: Buffer): void {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]
    if (c === 0x0a && (i === 0 || buf[i - 1] !== 0x0d)) {
      throw new WireError(`bare LF in the response head: ${show(buf)}`)
    }
    if (c === 0x0d && i + 1 < buf.length && buf[i + 1] !== 0x0a) {
      throw new WireError(`bare CR in the response head: ${show(buf)}`)
    }
  }
}

/** A chunked body (RFC 9112 §7.1) starting at `at`: the decoded body and where it ends. */
function parseChunked(buf: Buffer, at: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = []
  let i = at
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, i)
    if (lineEnd === -1) return undefined
    const line = buf.subarray(i, lineEnd).toString('latin1')
    const m = /^([0-9A-Fa-f]{1,8})(;[\t\x20-\x7e]*)?$/.exec(line)
    if (m === null) throw new WireError(`malformed chunk size line ${show(line)}`)
    const size = Number.parseInt(m[1] as string, 16)
    i = lineEnd + 2
    if (size === 0) {
      // Trailer section, then CRLF.
      for (;;) {
        const end = buf.indexOf(CRLF, i)
        if (end === -1) return undefined
        if (end === i) return { body: Buffer.concat(parts), end: i + 2 }
        const trailer = buf.subarray(i, end).toString('latin1')
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/.test(trailer)) {
          throw new WireError(`malformed trailer ${show(trailer)}`)
        }
        i = end + 2
      }
    }
    if (buf.length < i + size + 2) return undefined
    parts.push(buf.subarray(i, i + size))
    if (buf[i + size] !== 0x0d || buf[i + size + 1] !== 0x0a) {
      throw new WireError('chunk data not followed by CRLF')
    }
    i += size + 2
  }
}

/** What to send: the request line's parts and the header lines, each as given. */
export interface WireRequest {
  method?: string
  /** The request target, written as is (latin1 for a string). */
  target: string | Buffer
  /** Header lines in order; values written as is (latin1 for a string). */
  headers?: ReadonlyArray<readonly [string, string | Buffer]>
  /** The Host header's value; `null` for none. Default `127.0.0.1:<port>`. */
  host?: string | null
  body?: Buffer
}

/** The bytes of a request: `METHOD target HTTP/1.1`, Host, the headers, CRLF, the body. */
export function encodeRequest(req: WireRequest, port: number): Buffer {
  const parts: Buffer[] = []
  const latin1 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s)
  parts.push(latin1(`${req.method ?? 'GET'} `), latin1(req.target), latin1(' HTTP/1.1\r\n'))
  const host = req.host === undefined ? `127.0.0.1:${port}` : req.host
  if (host !== null) parts.push(latin1(`Host: ${host}\r\n`))
  for (const [name, value] of req.headers ?? []) {
    parts.push(latin1(`${name}: `), latin1(value), CRLF)
  }
  parts.push(CRLF)
  const head = Buffer.concat(parts)
  if (head.indexOf(HEAD_END) !== head.length - 4) {
    throw new Error(`a header value ends the head early (two requests, not one): ${show(head)}`)
  }
  return req.body === undefined ? head : Buffer.concat([head, req.body])
}

/** The connection went away before the first byte of a response (a stale kept-alive one). */
class Stale extends Error {}

interface Pending {
  method: string
  resolve(res: WireResponse): void
  reject(err: Error): void
}

/**
 * One kept-alive connection at a time, reopened when the server closes it. Requests are sent
 * one after another (no pipelining), so any byte that arrives when no response is expected,
 * or after a complete response, is reported: that is how a split response would show.
 */
export class WireClient {
  private socket: Socket | undefined
  private buf: Buffer = Buffer.alloc(0)
  private pending: Pending | undefined
  private stray: Buffer | undefined
  /** Connections opened so far. */
  connections = 0

  constructor(
    readonly port: number,
    readonly timeoutMs = 10_000
  ) {}

  /** Sends one request and resolves with its response; rejects with a {@link WireError}. */
  async send(request: WireRequest | Buffer, method?: string): Promise<WireResponse> {
    const bytes = Buffer.isBuffer(request) ? request : encodeRequest(request, this.port)
    const m = method ?? (Buffer.isBuffer(request) ? 'GET' : (request.method ?? 'GET'))
    for (let attempt = 0; ; attempt++) {
      const reused = this.socket !== undefined
      if (this.stray !== undefined) {
        const stray = this.stray
        this.stray = undefined
        throw new WireError(`bytes arrived when no response was expected: ${show(stray)}`)
      }
      const socket = this.socket ?? (await this.open())
      try {
        return await this.exchange(socket, bytes, m)
      } catch (err) {
        if (err instanceof Stale && reused && attempt === 0) continue
        if (err instanceof Stale) throw new WireError('connection closed without a response')
        throw err
      }
    }
  }

  /** Closes the connection. */
  close(): void {
    this.socket?.destroy()
    this.socket = undefined
  }

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.port, '127.0.0.1')
      this.connections++
      socket.setNoDelay(true)
      socket.once('connect', () => {
        socket.off('error', reject)
        this.socket = socket
        this.buf = Buffer.alloc(0)
        socket.on('data', (chunk: Buffer) => this.onData(socket, chunk))
        socket.on('error', () => this.onEnd(socket))
        socket.on('close', () => this.onEnd(socket))
        resolve(socket)
      })
      socket.once('error', reject)
    })
  }

  private exchange(socket: Socket, bytes: Buffer, method: string): Promise<WireResponse> {
    return new Promise<WireResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined
        this.drop(socket)
        reject(new WireError(`no complete response within ${this.timeoutMs} ms: ${show(this.buf)}`))
      }, this.timeoutMs)
      this.pending = {
        method,
        resolve: (res) => {
          clearTimeout(timer)
          resolve(res)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      }
      socket.write(bytes)
    })
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) {
      // Bytes after a response that closed the connection.
      this.stray = Buffer.concat([this.stray ?? Buffer.alloc(0), chunk])
      return
    }
    this.buf = Buffer.concat([this.buf, chunk])
    if (this.pending === undefined) {
      this.stray = Buffer.concat([this.stray ?? Buffer.alloc(0), chunk])
      return
    }
    this.tryParse(false)
  }

  private onEnd(socket: Socket): void {
    if (socket !== this.socket) return
    this.socket = undefined
    const pending = this.pending
    if (pending === undefined) return
    if (this.buf.length === 0) {
      this.pending = undefined
      pending.reject(new Stale())
      return
    }
    this.tryParse(true)
    if (this.pending !== undefined) {
      this.pending = undefined
      pending.reject(
        new WireError(`connection closed before a complete response: ${show(this.buf)}`)
      )
    }
  }

  private tryParse(eof: boolean): void {
    const pending = this.pending as Pending
    let parsed: ReturnType<typeof parseResponse>
    try {
      parsed = parseResponse(this.buf, pending.method, eof)
    } catch (err) {
      this.pending = undefined
      if (this.socket !== undefined) this.drop(this.socket)
      pending.reject(err as Error)
      return
    }
    if (parsed === undefined) return
    this.pending = undefined
    const rest = this.buf.subarray(parsed.consumed)
    this.buf = Buffer.alloc(0)
    const socket = this.socket
    if (rest.length > 0) {
      if (socket !== undefined) this.drop(socket)
      pending.reject(new WireError(`bytes after the end of the response: ${show(rest)}`))
      return
    }
    if (parsed.response.close && socket !== undefined) {
      // Keep listening on it for a while: anything more it sends is reported as stray.
      this.socket = undefined
      socket.end()
      setTimeout(() => socket.destroy(), 2_000).unref()
    }
    pending.resolve(parsed.response)
  }

  private drop(socket: Socket): void {
    if (socket === this.socket) this.socket = undefined
    socket.destroy()
  }
}
