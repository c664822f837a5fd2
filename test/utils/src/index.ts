import { once } from 'node:events'
import {
  createServer,
  type IncomingHttpHeaders,
  type RequestListener,
  request,
  type Server,
  type ServerOptions,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, expect } from 'vitest'

export interface Listening {
  /** `http://127.0.0.1:<port>` (no trailing slash) */
  url: string
  port: number
  server: Server
  /** Stops the server and ends every connection, idle or not. */
  close(): Promise<void>
}

/**
 * Starts a real HTTP server for `handler` on 127.0.0.1 and an OS-chosen port, with Node's
 * server `options` if given (e.g. `{ insecureHTTPParser: true }`).
 */
export async function listen(
  handler: RequestListener,
  options: ServerOptions = {}
): Promise<Listening> {
  const server = createServer(options, handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}

export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  /** Raw header lines as received, for checking duplicates. */
  rawHeaders: string[]
  /** The body as received on the wire (still content-encoded, if it was). */
  raw: Buffer
  /** `raw` as UTF-8 text. */
  body: string
}

export interface RawRequestOptions {
  method?: string
  /** The request target, sent as is. */
  path?: string
  headers?: Record<string, string | string[]>
  body?: string | Buffer
}

/**
 * Sends one request with the request target exactly as given and resolves with the whole
 * response. Rejects if the connection ends before the response is complete.
 */
export function rawRequest(url: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const { port, hostname } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const raw = Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            raw,
            body: raw.toString('utf8'),
          })
        })
        res.on('error', reject)
        res.on('aborted', () => reject(new Error('response aborted')))
      }
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Makes every test in the calling file fail if a promise rejection went unhandled while it
 * ran: the stack promises that a request's error never becomes one.
 */
export function failOnUnhandledRejections(): void {
  let unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  beforeEach(() => {
    unhandled = []
    process.on('unhandledRejection', onUnhandled)
  })
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled)
    expect(unhandled).toEqual([])
  })
}

export { chromiumLaunchOptions } from './chromium.js'
export {
  type Exit,
  type GroupProcess,
  spawnGroup,
  type WaitOptions,
} from './process.js'
export { freePort, RedisServer } from './redis.js'
