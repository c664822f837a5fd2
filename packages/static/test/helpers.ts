import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { type Handler, type Middleware, type StackOptions, stack } from '@shallot/stack'
import { type Listening, listen } from '@shallot/test-utils'
import { type ServeStaticOptions, type StaticMiddleware, serveStatic } from '../src/index.js'

/** A temporary directory holding `files` (path -> contents); removed by `cleanup`. */
export interface Fixture {
  /** The directory containing `public/` (the root) and whatever lies beside it. */
  base: string
  /** `base/public`: the root to serve. */
  root: string
  write(path: string, contents: string | Buffer): string
  cleanup(): void
}

/** Creates `base/public` with `files` written relative to it; `outside` relative to base. */
export function fixture(
  files: Record<string, string | Buffer>,
  outside: Record<string, string | Buffer> = {}
): Fixture {
  const base = mkdtempSync(join(tmpdir(), 'shallot-static-'))
  const root = join(base, 'public')
  mkdirSync(root)
  const write = (path: string, contents: string | Buffer): string => {
    const abs = join(root, path)
    mkdirSync(dirname(abs), { recursive: true })
    writeFileSync(abs, contents)
    return abs
  }
  for (const [path, contents] of Object.entries(files)) write(path, contents)
  for (const [path, contents] of Object.entries(outside)) {
    const abs = join(base, path)
    mkdirSync(dirname(abs), { recursive: true })
    writeFileSync(abs, contents)
  }
  return { base, root, write, cleanup: () => rmSync(base, { recursive: true, force: true }) }
}

/** The app behind the layer in most tests: answers 418 "app", so a fallthrough is visible. */
export const app: Handler = (_req: IncomingMessage, res: ServerResponse) => {
  res.statusCode = 418
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.end('app')
}

export interface Served extends Listening {
  layer: StaticMiddleware
  get(path: string, headers?: Record<string, string>, method?: string): Promise<Reply>
}

/** Serves `stack(before..., serveStatic(root, options))(handler)` on a real socket. */
export async function serve(
  root: string,
  options: ServeStaticOptions = {},
  handler: Handler = app,
  before: Middleware[] = [],
  stackOptions: StackOptions = { onError: () => {} }
): Promise<Served> {
  const layer = serveStatic(root, options)
  const server = await listen(stack(stackOptions, ...before, layer)(handler))
  const close = server.close
  return Object.assign(server, {
    layer,
    close: async () => {
      layer.close()
      await close()
    },
    get: (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      get(server.url, path, headers, method),
  })
}

/** A response, with the body as bytes. */
export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
  text: string
}

/** One request (target sent as is, no agent), resolved with the whole response. */
export function get(
  url: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET'
): Promise<Reply> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text: body.toString('latin1'),
        })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * Sends raw bytes on a new connection (`Connection: close`) and resolves with everything the
 * server sent back: for request targets `http.request` refuses (raw non-ASCII, spaces).
 */
export function rawSocket(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => resolve(Buffer.concat(chunks)))
    socket.on('error', reject)
    // Not end(): a half-closed connection may be dropped before an async answer is written.
    socket.write(bytes)
  })
}

/** Polls `check` until it returns true (every 25 ms, at most `timeout` ms). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeout = 5000,
  what = 'condition'
): Promise<void> {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** The parts of a multipart/byteranges body. */
export function parseMultipart(
  body: Buffer,
  contentType: string
): { headers: Record<string, string>; data: Buffer }[] {
  const m = /boundary=([^;]+)/.exec(contentType)
  if (m === null) throw new Error(`no boundary in ${contentType}`)
  const boundary = Buffer.from(`--${m[1]}`)
  const parts: { headers: Record<string, string>; data: Buffer }[] = []
  let pos = body.indexOf(boundary)
  if (pos !== 0) throw new Error('the body must start with the boundary')
  for (;;) {
    pos += boundary.length
    if (body.subarray(pos, pos + 2).toString() === '--') {
      if (body.subarray(pos + 2).toString() !== '\r\n') throw new Error('bad closing delimiter')
      return parts
    }
    const headEnd = body.indexOf('\r\n\r\n', pos)
    const headers: Record<string, string> = {}
    for (const line of body
      .subarray(pos + 2, headEnd)
      .toString('latin1')
      .split('\r\n')) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), boundary]), headEnd + 4)
    parts.push({ headers, data: body.subarray(headEnd + 4, next) })
    pos = next + 2
  }
}

/** Deterministic bytes: byte i is (i * 7 + 3) mod 251. */
export function bytes(size: number): Buffer {
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i++) buf[i] = (i * 7 + 3) % 251
  return buf
}
