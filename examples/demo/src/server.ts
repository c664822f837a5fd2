/**
 * Starts the demo: `pnpm start` from the repository root, or `node dist/server.js` here.
 *
 * Environment:
 *  - PORT: the port, default 8080; 0 picks a free one (the real port is printed).
 *  - HOST: the address to listen on, default 127.0.0.1 (this machine only);
 *    HOST=0.0.0.0 (or ::) listens on all interfaces, e.g. in a container.
 *  - SHUTDOWN_TIMEOUT_MS: how long a graceful shutdown waits for in-flight requests,
 *    default 10000.
 *  - DEMO_API_KEYS: the API keys /api accepts in `X-API-Key`, comma-separated
 *    (`DEMO_API_KEYS=key-one,key-two`), default test-key-123. Spaces around a key are
 *    trimmed; an empty key (`a,,b`, a trailing comma) is refused.
 *  - SESSION_SECRET: signs the session cookie (at least 32 characters). Default: a random
 *    secret, so sessions end when the server restarts.
 *  - REDIS_URL: keep sessions in Redis (`redis://127.0.0.1:6379`) instead of in memory,
 *    so several processes share them; `/readyz` then checks Redis.
 *  - LOG_FORMAT: the access log's format, default `dev` on a terminal, `combined` otherwise
 *    (also `common`, `short`, `tiny`, `json`).
 *
 * SIGINT (Ctrl-C) or SIGTERM shuts down gracefully: no new connections, idle keep-alive
 * connections closed, in-flight requests finish, the access log is flushed and the Redis
 * connection closed, then exit code 0. When the timeout passes
 * first (or on a second signal), the remaining connections are cut and the exit code is 1.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type LoggingFormat, logging } from '@shallot/logging'
import { RedisStore, type SessionStore } from '@shallot/session'
import { createClient } from 'redis'
import { type AppOptions, createApp } from './app.js'

const port = envInt('PORT', 8080, 0, 65535)
const host = process.env.HOST || '127.0.0.1'
const shutdownTimeoutMs = envInt('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 3_600_000)
const apiKeys = envKeys('DEMO_API_KEYS')
const corsOrigins = envList('CORS_ORIGINS')
const sessionSecret = envSecret('SESSION_SECRET')
const logFormat = envFormat('LOG_FORMAT', process.stdout.isTTY ? 'dev' : 'combined')

const accessLog = logging({ format: logFormat })
const redis = process.env.REDIS_URL ? await connectRedis(process.env.REDIS_URL) : undefined
const sessionStore: SessionStore | undefined = redis && new RedisStore({ client: redis })
const options: AppOptions = {
  accessLog,
  apiKeys,
  ...(corsOrigins === undefined ? {} : { corsOrigins }),
  ...(sessionSecret === undefined ? {} : { sessionSecret }),
  ...(sessionStore === undefined ? {} : { sessionStore }),
  ...(redis === undefined ? {} : { checks: { redis: () => redis.ping() } }),
}
const server = createServer(buildApp(options))
let stopping = false

// Graceful shutdown bookkeeping, registered before the app so it sees every request first.
// A kept-alive connection whose response finishes during shutdown is closed right away
// (server.close() alone would leave it open until the keep-alive timeout), and responses
// whose head is not sent yet say `Connection: close`, so clients do not reuse it.
const inFlight = new Set<ServerResponse>()
server.prependListener('request', (_req, res) => {
  if (stopping) res.shouldKeepAlive = false
  inFlight.add(res)
  res.once('close', () => {
    inFlight.delete(res)
    if (stopping) setImmediate(() => server.closeIdleConnections())
  })
})

server.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EADDRINUSE') {
    console.error(`Port ${port} is already in use on ${host}: try PORT=0 or another port.`)
  } else {
    console.error('The demo server failed:', err)
  }
  process.exit(1)
})

server.listen(port, host, () => {
  const { port: actual } = server.address() as AddressInfo
  const everywhere = host === '0.0.0.0' || host === '::'
  const local = host === '127.0.0.1' || host === '::1' || host === 'localhost'
  const shown = everywhere || local ? 'localhost' : host.includes(':') ? `[${host}]` : host
  console.log(
    `Shallot demo listening on http://${shown}:${actual}${everywhere ? ' (all interfaces)' : ''}`
  )
  console.log(
    `Sessions in ${redis ? 'Redis' : 'memory'}${sessionSecret ? '' : ' (random SESSION_SECRET: they end with this process)'}; dashboard at /_monitor.`
  )
  console.log('Press Ctrl-C to stop.')
})

function shutdown(signal: NodeJS.Signals): void {
  if (stopping) {
    console.error(`${signal} again: closing the remaining connections now.`)
    server.closeAllConnections()
    process.exit(1)
  }
  stopping = true
  console.log(
    inFlight.size === 0
      ? `${signal} received: no request in flight, exiting.`
      : `${signal} received: finishing ${inFlight.size} in-flight request(s), then exiting.`
  )
  for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false
  const timer = setTimeout(() => {
    console.error(
      `Requests still running after ${shutdownTimeoutMs} ms: closing their connections.`
    )
    server.closeAllConnections()
    void finish(1)
  }, shutdownTimeoutMs)
  // Stop accepting; the callback runs once every connection has ended.
  server.close(() => {
    clearTimeout(timer)
    void finish(0)
  })
  // Kept-alive connections with no request in flight would otherwise hold close() open.
  server.closeIdleConnections()
}

process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)

/** Writes the access log lines still buffered, closes Redis, then exits. */
async function finish(code: number): Promise<void> {
  try {
    await accessLog.flush()
    await redis?.close()
  } catch (err) {
    console.error('Shutdown:', err)
  }
  if (code === 0) console.log('Stopped.')
  process.exit(code)
}

/** A connected node-redis client; exits with a message when Redis cannot be reached. */
async function connectRedis(url: string) {
  // disableOfflineQueue: while Redis is down, commands fail at once (the session layer
  // answers 503 right away) instead of queueing, unbounded, and being applied after a
  // client was told its request failed. As packages/session's README recommends.
  const client = createClient({ url, disableOfflineQueue: true })
  // Reported, not fatal: the client reconnects by itself and the session layer answers 503
  // meanwhile.
  client.on('error', (err: Error) => console.error(`Redis (${url}): ${err.message}`))
  try {
    await client.connect()
  } catch (err) {
    console.error(`Cannot connect to REDIS_URL ${url}: ${(err as Error).message}`)
    process.exit(1)
  }
  return client
}

/** The app, or exit 1 with the message of the option a layer refused (e.g. a bad CORS origin). */
function buildApp(appOptions: AppOptions): ReturnType<typeof createApp> {
  try {
    return createApp(appOptions)
  } catch (err) {
    console.error(`Cannot start the demo: ${(err as Error).message}`)
    process.exit(1)
  }
}

/** A secret of at least 32 characters, or undefined when the variable is unset. */
function envSecret(name: string): string | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  if (raw.length < 32) {
    console.error(`${name} must be at least 32 characters long (it has ${raw.length})`)
    process.exit(1)
  }
  return raw
}

/** One of the access log's named formats. */
function envFormat(name: string, fallback: LoggingFormat): LoggingFormat {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const FORMATS = ['combined', 'common', 'short', 'tiny', 'dev', 'json']
  if (!FORMATS.includes(raw)) {
    console.error(`${name} must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(raw)}`)
    process.exit(1)
  }
  return raw as LoggingFormat
}

function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
    process.exit(1)
  }
  return value
}

/** A comma-separated list (spaces around entries trimmed, empty entries dropped), or undefined. */
function envList(name: string): string[] | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
}

/** A comma-separated list of keys; undefined (the app's default) when unset or empty. */
function envKeys(name: string): string[] | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const keys = raw.split(',').map((key) => key.trim())
  // The messages never echo the keys: they are secrets, and stderr ends up in logs.
  const empty = keys.indexOf('')
  if (empty !== -1) {
    console.error(
      `${name} must be a comma-separated list of non-empty keys (e.g. key-one,key-two): entry ${empty + 1} of ${keys.length} is empty`
    )
    process.exit(1)
  }
  if (new Set(keys).size !== keys.length) {
    console.error(`${name} lists a key twice: each key must appear once`)
    process.exit(1)
  }
  return keys
}
