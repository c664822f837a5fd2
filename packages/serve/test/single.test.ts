import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ServeError, type ServeOptions, type Serving, serve } from '../src/index.js'
import { fixture, get, rawConnection } from './helpers.js'

const opened: Serving[] = []
afterEach(async () => {
  const left = opened.splice(0)
  await Promise.all(left.map((s) => s.close()))
})

/** serve() in this process: port 0, loopback, no signal handlers, lines collected. */
function start(
  app: Parameters<typeof serve>[0],
  options: ServeOptions = {}
): { serving: Serving; lines: string[] } {
  const lines: string[] = []
  const serving = serve(app, {
    port: 0,
    host: '127.0.0.1',
    signals: false,
    log: (line) => lines.push(line),
    ...options,
  })
  opened.push(serving)
  return { serving, lines }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('serve: in this process (workers: 0)', () => {
  it('should serve a handler and resolve ready with the actual address', async () => {
    const { serving, lines } = start((_req, res) => {
      res.end('hello')
    })
    expect(serving.mode).toBe('single')
    expect(serving.workers).toEqual([])
    const address = await serving.ready
    expect(address.address).toBe('127.0.0.1')
    expect(address.family).toBe('IPv4')
    expect(address.port).toBeGreaterThan(0)
    expect(address.url).toBe(`http://127.0.0.1:${address.port}`)
    expect(serving.address).toEqual(address)
    expect((serving.server?.address() as AddressInfo | undefined)?.port).toBe(address.port)
    const reply = await get(address.port)
    expect(reply.body).toBe('hello')
    expect(lines).toContain(`listening on ${address.url} (single process, pid ${process.pid})`)
  })

  it('should set the timeouts on the server', async () => {
    const defaults = start((_req, res) => res.end()).serving
    await defaults.ready
    expect(defaults.server?.keepAliveTimeout).toBe(65_000)
    expect(defaults.server?.headersTimeout).toBe(66_000)
    expect(defaults.server?.requestTimeout).toBe(300_000)

    const custom = start((_req, res) => res.end(), {
      keepAliveTimeout: 1000,
      headersTimeout: 2000,
      requestTimeout: 3000,
    }).serving
    await custom.ready
    expect(custom.server?.keepAliveTimeout).toBe(1000)
    expect(custom.server?.headersTimeout).toBe(2000)
    expect(custom.server?.requestTimeout).toBe(3000)
    // Node announces the keep-alive timeout on kept-alive connections.
    const conn = await rawConnection((await custom.ready).port)
    conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await conn.waitFor(/\r\n\r\n$/)
    expect(conn.received()).toMatch(/\r\nKeep-Alive: timeout=1\r\n/)
    conn.socket.destroy()
  })

  it('should close an idle keep-alive connection after keepAliveTimeout', async () => {
    const { serving } = start((_req, res) => res.end('ok'), {
      keepAliveTimeout: 200,
      headersTimeout: 1000,
    })
    const { port } = await serving.ready
    const conn = await rawConnection(port)
    conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await conn.waitFor(/\r\n\r\nok$/)
    await conn.closed(5000)
  })

  it('should answer 408 to a client that does not finish its headers within headersTimeout', async () => {
    const { serving } = start((_req, res) => res.end('ok'), {
      keepAliveTimeout: 100,
      headersTimeout: 400,
    })
    const { port } = await serving.ready
    const conn = await rawConnection(port)
    conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\n')
    await conn.waitFor(/^HTTP\/1\.1 408 /, 5000)
    await conn.closed(5000)
  })

  it('should answer 500 when the handler throws or rejects, and keep serving', async () => {
    const { serving, lines } = start((req, res) => {
      if (req.url === '/throw') throw new Error('sync boom')
      if (req.url === '/reject') return Promise.reject(new Error('async boom'))
      res.end('fine')
    })
    const { port } = await serving.ready
    const thrown = await get(port, '/throw')
    expect(thrown.status).toBe(500)
    expect(thrown.body).toBe('Internal Server Error')
    expect((await get(port, '/reject')).status).toBe(500)
    expect((await get(port, '/')).body).toBe('fine')
    expect(
      lines.filter((l) => l.startsWith('unhandled error in the request handler'))
    ).toHaveLength(2)
    expect(lines.join('\n')).toMatch(/Error: sync boom\n\s+at /)
    expect(lines.join('\n')).toMatch(/Error: async boom/)
  })

  it('should let a request in flight finish on close(), with Connection: close, then resolve 0', async () => {
    const started = deferred()
    const release = deferred()
    const { serving, lines } = start(async (_req, res) => {
      started.resolve()
      await release.promise
      res.end('finished')
    })
    const { port } = await serving.ready
    const pending = get(port, '/slow')
    await started.promise
    const closing = serving.close()
    // No longer accepting.
    await expect(get(port, '/')).rejects.toThrow(/ECONNREFUSED/)
    release.resolve()
    const reply = await pending
    expect(reply.status).toBe(200)
    expect(reply.body).toBe('finished')
    expect(reply.headers.connection).toBe('close')
    expect(await closing).toBe(0)
    expect(await serving.closed).toBe(0)
    expect(lines).toContain('stopped (exit code 0)')
    expect(serving.server?.listening).toBe(false)
  })

  it('should close idle keep-alive connections at once on close()', async () => {
    const { serving } = start((_req, res) => res.end('ok'))
    const { port } = await serving.ready
    const conn = await rawConnection(port)
    conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await conn.waitFor(/\r\n\r\nok$/)
    // keepAliveTimeout is 65 s: only the shutdown can close it this soon.
    const closing = serving.close()
    await conn.closed(5000)
    expect(await closing).toBe(0)
  })

  it('should close a kept-alive connection after the response in flight at close()', async () => {
    const started = deferred()
    const release = deferred()
    const { serving } = start(async (req, res) => {
      if (req.url === '/slow') {
        started.resolve()
        await release.promise
      }
      res.end(`done ${req.url}`)
    })
    const { port } = await serving.ready
    const conn = await rawConnection(port)
    conn.socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n')
    await conn.waitFor(/done \/first$/)
    conn.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await started.promise
    const closing = serving.close()
    release.resolve()
    await conn.waitFor(/done \/slow$/)
    expect(conn.received()).toMatch(/Connection: close\r\n[\s\S]*done \/slow$/)
    await conn.closed(5000)
    expect(await closing).toBe(0)
  })

  it('should serve a connection accepted just before close() whose request comes after', async () => {
    const { serving } = start((_req, res) => res.end('late but served'))
    const { port } = await serving.ready
    const server = serving.server as NonNullable<Serving['server']>
    const conn = await rawConnection(port)
    // Wait until the server has accepted it.
    for (let i = 0; i < 200; i++) {
      const n = await new Promise<number>((resolve) =>
        server.getConnections((_err, count) => resolve(count))
      )
      if (n === 1) break
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const closing = serving.close()
    conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await conn.waitFor(/late but served$/)
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n/)
    await conn.closed(5000)
    expect(await closing).toBe(0)
  })

  it('should cut requests still in flight after shutdownTimeout', async () => {
    const started = deferred()
    const { serving, lines } = start(
      (_req, _res: ServerResponse) => {
        started.resolve()
        // Never answers.
      },
      { shutdownTimeout: 200 }
    )
    const { port } = await serving.ready
    const pending = get(port, '/forever')
    await started.promise
    expect(await serving.close()).toBe(0)
    await expect(pending).rejects.toThrow(/socket hang up|ECONNRESET/)
    expect(lines).toContain('shutdownTimeout (200 ms) reached, 1 request(s) in flight were cut')
  })

  it('should serve a module given by path or file: URL', async () => {
    const byPath = start(fixture('named-handler.mjs')).serving
    const byUrl = start(pathToFileURL(fixture('named-app.mjs'))).serving
    expect((await get((await byPath.ready).port)).body).toBe('from the named export "handler"')
    expect((await get((await byUrl.ready).port)).body).toBe('from the named export "app"')
  })

  it('should prefer the default export, then "handler", then "app"', async () => {
    const all = start(fixture('all-exports.mjs')).serving
    expect((await get((await all.ready).port)).body).toBe('default')
    // A default export that is not a function is passed over.
    const named = start(fixture('handler-and-app.mjs')).serving
    expect((await get((await named.ready).port)).body).toBe('handler')
  })

  it('should reject ready with ERR_SERVE_LOAD and close with 3 when the module cannot load', async () => {
    const { serving, lines } = start(fixture('throws-at-import.mjs'))
    const err = await serving.ready.then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(ServeError)
    expect((err as ServeError).code).toBe('ERR_SERVE_LOAD')
    expect((err as ServeError).exitCode).toBe(3)
    expect((err as ServeError).message).toMatch(
      /could not load .*throws-at-import\.mjs: Error: boom at import/
    )
    expect(await serving.closed).toBe(3)
    expect(lines.join('\n')).toMatch(/boom at import/)
  })

  it('should reject ready with ERR_SERVE_LISTEN and close with 4 when the port is taken', async () => {
    const blocker = createServer((_req: IncomingMessage, res: ServerResponse) => res.end())
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const { port } = blocker.address() as AddressInfo
    try {
      const { serving } = start((_req, res) => res.end(), { port })
      const err = (await serving.ready.then(
        () => undefined,
        (e: unknown) => e
      )) as ServeError
      expect(err.code).toBe('ERR_SERVE_LISTEN')
      expect(err.message).toBe(
        `could not listen on 127.0.0.1:${port}: EADDRINUSE (the port is in use)`
      )
      expect(await serving.closed).toBe(4)
    } finally {
      blocker.close()
    }
  })
})
