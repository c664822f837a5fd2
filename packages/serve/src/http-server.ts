import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  Server,
  type ServerResponse,
} from 'node:http'
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net'
import { errorText } from './errors.js'

/** @internal The timeouts set on every server. */
export interface ServerTimeouts {
  keepAliveTimeout: number
  headersTimeout: number
  requestTimeout: number
}

/** @internal What a graceful shutdown ended with. */
export interface ShutdownResult {
  /** Every request in flight finished before the timeout. */
  drained: boolean
  /** Requests whose connection was cut at the timeout. */
  cut: number
}

/**
 * How long a connection accepted just before a shutdown may take to start its request: it
 * was accepted, so its client expects an answer (its bytes may simply not be parsed yet).
 */
const FRESH_GRACE_MS = 1000

/**
 * How often Node sweeps connections for `headersTimeout`/`requestTimeout` (its default is
 * every 30 s): a quarter of the shorter timeout, so a short timeout is enforced within 25%.
 */
function checkingInterval(t: ServerTimeouts): number {
  const shortest = Math.min(
    t.headersTimeout,
    t.requestTimeout > 0 ? t.requestTimeout : Number.POSITIVE_INFINITY
  )
  return Math.max(50, Math.min(30_000, Math.floor(shortest / 4)))
}

interface Connection {
  /** Requests being served on it. */
  active: number
  /** Requests served on it. */
  served: number
}

/**
 * @internal A node:http server with the timeouts set, a guard around the handler (a throw or
 * rejection that escapes it becomes a 500, never a crash), a count of requests, and a
 * graceful shutdown that lets requests in flight finish and closes keep-alive connections.
 */
export class ManagedServer {
  readonly server: Server
  /** Requests received so far. */
  requests = 0
  readonly #inFlight = new Set<ServerResponse>()
  readonly #connections = new Map<Socket, Connection>()
  #closing: Promise<ShutdownResult> | undefined

  constructor(
    handler: RequestListener,
    timeouts: ServerTimeouts,
    log: (line: string) => void,
    onRequest?: (count: number) => void
  ) {
    const inFlight = this.#inFlight
    const connections = this.#connections
    const fail = (err: unknown, res: ServerResponse) => {
      log(`unhandled error in the request handler: ${errorText(err)}`)
      if (res.headersSent) {
        res.destroy()
      } else if (!res.writableEnded) {
        res.statusCode = 500
        res.setHeader('Content-Type', 'text/plain; charset=utf-8')
        res.setHeader('Content-Length', '21')
        res.end('Internal Server Error')
      }
    }
    const served = (req: IncomingMessage, res: ServerResponse): void => {
      this.requests++
      inFlight.add(res)
      const socket = req.socket
      const conn = connections.get(socket)
      if (conn !== undefined) conn.active++
      res.once('close', () => {
        inFlight.delete(res)
        if (conn === undefined) return
        conn.active--
        conn.served++
        // During a shutdown, a connection whose response just finished is idle: close it now
        // rather than after keepAliveTimeout.
        if (this.#closing !== undefined && conn.active === 0) socket.destroy()
      })
      // A request that arrives on a kept-alive connection during a shutdown is served, and
      // its connection is closed after it.
      if (this.#closing !== undefined) res.setHeader('Connection', 'close')
      onRequest?.(this.requests)
      let result: unknown
      try {
        result = handler(req, res as ServerResponse & { req: IncomingMessage })
      } catch (err) {
        fail(err, res)
        return
      }
      // An async handler: a rejection must not become an unhandled rejection (a crash).
      if (
        typeof result === 'object' &&
        result !== null &&
        typeof (result as PromiseLike<unknown>).then === 'function'
      ) {
        ;(result as PromiseLike<unknown>).then(undefined, (err: unknown) => fail(err, res))
      }
    }
    this.server = createServer(
      {
        headersTimeout: timeouts.headersTimeout,
        requestTimeout: timeouts.requestTimeout,
        connectionsCheckingInterval: checkingInterval(timeouts),
      },
      served
    )
    this.server.keepAliveTimeout = timeouts.keepAliveTimeout
    this.server.on('connection', (socket: Socket) => {
      connections.set(socket, { active: 0, served: 0 })
      socket.once('close', () => connections.delete(socket))
    })
  }

  /** Listens; resolves with the address, rejects with the listen error. */
  listen(port: number, host: string | undefined): Promise<AddressInfo> {
    const server = this.server
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        server.off('listening', onListening)
        reject(err)
      }
      const onListening = () => {
        server.off('error', onError)
        // An 'error' without a listener would crash the process (EMFILE on accept...).
        server.on('error', () => {})
        resolve(server.address() as AddressInfo)
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen(host === undefined ? { port } : { port, host })
    })
  }

  /**
   * Stops accepting connections and lets requests in flight finish: their responses carry
   * `Connection: close`, idle keep-alive connections are closed at once, and each busy one
   * as soon as its response is done; a connection accepted just before, with no request yet,
   * gets a moment to send it. Resolves once every connection is closed, or after
   * `timeoutMs`, when the remaining connections (WebSockets included) are cut.
   */
  shutdown(timeoutMs: number): Promise<ShutdownResult> {
    if (this.#closing !== undefined) return this.#closing
    this.#closing = new Promise<ShutdownResult>((resolve) => {
      const server = this.server
      let settled = false
      const done = (result: ShutdownResult) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        clearTimeout(grace)
        // http.Server#close() also stops the timeout sweep; the listener is already closed.
        Server.prototype.close.call(server, () => {})
        resolve(result)
      }
      const timer = setTimeout(() => {
        const cut = this.#inFlight.size
        for (const socket of this.#connections.keys()) socket.destroy()
        done({ drained: false, cut })
      }, timeoutMs)
      const grace = setTimeout(
        () => {
          for (const [socket, conn] of this.#connections) if (conn.active === 0) socket.destroy()
        },
        Math.min(FRESH_GRACE_MS, timeoutMs)
      )
      // net.Server#close, not http.Server#close: which connections the latter closes as
      // idle is Node's internal decision. Here a connection is idle once it has served a
      // request and has none in flight; one accepted a moment ago, whose request may not be
      // parsed yet, gets FRESH_GRACE_MS to start it.
      NetServer.prototype.close.call(server, () => done({ drained: true, cut: 0 }))
      for (const res of this.#inFlight) {
        if (!res.headersSent) res.setHeader('Connection', 'close')
      }
      for (const [socket, conn] of this.#connections) {
        if (conn.active === 0 && conn.served > 0) socket.destroy()
      }
    })
    return this.#closing
  }
}
