import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import { type Handler, type Middleware, type StackOptions, stack } from '@shallot/stack'
import { type Listening, listen, rawRequest } from '@shallot/test-utils'

export interface BinaryResponse {
  status: number
  headers: IncomingHttpHeaders
  /** Raw header lines as received, for counting duplicates. */
  rawHeaders: string[]
  /** The body as received on the wire (still encoded). */
  raw: Buffer
  /** Whether the body came with `Transfer-Encoding: chunked`. */
  chunked: boolean
}

export interface SendOptions {
  method?: string
  path?: string
  headers?: Record<string, string | string[]>
}

/** One request on a new connection; resolves with the whole response, body as bytes. */
export async function send(server: Listening, options: SendOptions = {}): Promise<BinaryResponse> {
  const res = await rawRequest(server.url, options)
  return { ...res, chunked: res.headers['transfer-encoding'] === 'chunked' }
}

/** `send` with `Accept-Encoding: <encoding>` (and more headers). */
export function get(
  server: Listening,
  acceptEncoding: string | undefined,
  extra: SendOptions = {}
): Promise<BinaryResponse> {
  const headers: Record<string, string | string[]> = { ...extra.headers }
  if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding
  return send(server, { ...extra, headers })
}

/** The body decoded as its Content-Encoding says, with the real decoders. */
export function decode(res: BinaryResponse): string {
  const coding = res.headers['content-encoding']
  if (coding === undefined) return res.raw.toString('utf8')
  if (coding === 'gzip') return gunzipSync(res.raw).toString('utf8')
  if (coding === 'br') return brotliDecompressSync(res.raw).toString('utf8')
  if (coding === 'deflate') return inflateSync(res.raw).toString('utf8')
  throw new Error(`unexpected content-encoding ${coding}`)
}

/** Serves `stack(options, ...layers)(handler)`, runs `fn`, always closes the server. */
export async function withServer(
  layers: Middleware | Middleware[],
  handler: Handler,
  fn: (server: Listening) => Promise<void>,
  options: StackOptions = {}
): Promise<void> {
  const list = Array.isArray(layers) ? layers : [layers]
  const server = await listen(stack(options, ...list)(handler))
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

/** How many times a header line appears in the raw response. */
export function count(res: BinaryResponse, name: string): number {
  let n = 0
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if ((res.rawHeaders[i] as string).toLowerCase() === name) n++
  }
  return n
}

/** A deterministic text of `n` bytes (ASCII) that compresses well but not trivially. */
export function text(n: number): string {
  let out = ''
  for (let i = 0; out.length < n; i++) out += `line ${i}: the quick brown fox ${i % 7}\n`
  return out.slice(0, n)
}

/** A JSON document of about `n` bytes. */
export function jsonBody(n: number): string {
  const items: { id: number; name: string }[] = []
  let size = 2
  for (let i = 0; size < n; i++) {
    const item = { id: i, name: `item number ${i}` }
    items.push(item)
    size += JSON.stringify(item).length + 1
  }
  return JSON.stringify(items)
}

/** A handler sending `body` with `type`, by `res.end(body)` (Node computes no length). */
export function sending(
  body: string | Buffer,
  type = 'text/plain; charset=utf-8',
  headers: Record<string, string> = {}
): Handler {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Content-Type', type)
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
    res.end(body)
  }
}
