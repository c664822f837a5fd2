/**
 * A real nginx, running the configuration of docs/recipes/behind-nginx.md (read from the
 * page), in front of shallot-serve running fixtures/proxy-app.mjs. Clients connect to nginx
 * from 127.0.0.2; nginx connects to the application from 127.0.0.1, which the application
 * trusts (or not, depending on the path: see the fixture).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { get, type Reply, type RequestOptions, sessionCookie } from './client.js'
import {
  type Nginx,
  type Serving,
  shallotServe,
  startNginx,
  stopAll,
  tempDir,
} from './processes.js'
import { seconds } from './recipe.js'

const CLIENT = '127.0.0.2'

let app: Serving
let nginx: Nginx

beforeAll(async () => {
  const assets = tempDir('shallot-proxy-assets-')
  writeFileSync(join(assets, 'hello.txt'), 'hello from the application\n')
  app = await shallotServe('proxy-app.mjs', ['--workers', '1'], { PUBLIC_DIR: assets })
  nginx = await startNginx(app.port, { 'hello.txt': 'hello from nginx\n' })
}, 60_000)

afterAll(async () => {
  await stopAll()
}, 30_000)

/** What the fixture answers: what the application saw. */
interface Seen {
  ip: string
  protocol: 'http' | 'https'
  host: string | null
  visits: number
  httpVersion: string
  hostHeader: string | null
  connection: string | null
  xForwardedFor: string | null
  xForwardedProto: string | null
  xForwardedHost: string | null
  remotePort: number
  keepAliveTimeout: number
}

let requests = 0

/** A request through nginx to a fresh path of `variant`, from 127.0.0.2 by default. */
async function through(
  variant: 'trusted' | 'untrusted' | 'log-only',
  options: RequestOptions = {}
): Promise<{ reply: Reply; seen: Seen; path: string }> {
  const path = `/${variant}/whoami/${++requests}`
  const scheme = options.scheme ?? 'http'
  const reply = await get(scheme === 'https' ? nginx.httpsPort : nginx.httpPort, path, {
    localAddress: CLIENT,
    ca: nginx.ca,
    ...options,
  })
  expect(reply.status, reply.body).toBe(200)
  return { reply, seen: JSON.parse(reply.body) as Seen, path }
}

/** The address at the start of the application's access log line for `path` (bounded wait). */
async function loggedAddress(path: string): Promise<string> {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const m = await app.waitFor(
    new RegExp(`^(\\S+) - - \\[[^\\]]+\\] "GET ${escaped} HTTP/1\\.1" 200 `),
    {
      ms: 5000,
    }
  )
  return m[1] as string
}

const isSecure = (setCookie: string | undefined): boolean => {
  if (setCookie === undefined) throw new Error('no session cookie in the response')
  return /;\s*Secure(;|$)/i.test(setCookie)
}

describe('behind nginx: the access log', () => {
  it("should log the client's address when the proxy is trusted", async () => {
    const { seen, path } = await through('trusted')
    expect(seen.xForwardedFor).toBe(CLIENT)
    expect(seen.ip).toBe(CLIENT)
    expect(await loggedAddress(path)).toBe(CLIENT)
  })

  it("should log nginx's address without trustProxy", async () => {
    const { seen, path } = await through('untrusted')
    // nginx did say who the client was; the application did not believe it.
    expect(seen.xForwardedFor).toBe(CLIENT)
    expect(seen.ip).toBe('127.0.0.1')
    expect(await loggedAddress(path)).toBe('127.0.0.1')
  })

  it('should not log an X-Forwarded-For forged by the client: one hop is trusted', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.9' }
    const trusted = await through('trusted', { headers })
    // nginx appended the address it saw ($proxy_add_x_forwarded_for)...
    expect(trusted.seen.xForwardedFor).toBe(`203.0.113.9, ${CLIENT}`)
    // ...and only that last entry, written by the trusted nginx, is believed.
    expect(trusted.seen.ip).toBe(CLIENT)
    expect(await loggedAddress(trusted.path)).toBe(CLIENT)

    const untrusted = await through('untrusted', { headers })
    expect(await loggedAddress(untrusted.path)).toBe('127.0.0.1')
  })

  it("should log the client with logging's own trustProxy, which the session does not share", async () => {
    const { reply, seen, path } = await through('log-only', { scheme: 'https' })
    expect(await loggedAddress(path)).toBe(CLIENT)
    // The layers inside see the socket: nginx, over http.
    expect(seen.ip).toBe('127.0.0.1')
    expect(seen.protocol).toBe('http')
    expect(isSecure(sessionCookie(reply))).toBe(false)
  })
})

describe('behind nginx: Secure session cookies', () => {
  it('should set Secure over https when the proxy is trusted', async () => {
    const { reply, seen } = await through('trusted', { scheme: 'https' })
    expect(seen.xForwardedProto).toBe('https')
    expect(seen.protocol).toBe('https')
    expect(seen.host).toBe('localhost')
    expect(isSecure(sessionCookie(reply))).toBe(true)
  })

  it('should not set Secure over plain http', async () => {
    const { reply, seen } = await through('trusted')
    expect(seen.xForwardedProto).toBe('http')
    expect(seen.protocol).toBe('http')
    expect(isSecure(sessionCookie(reply))).toBe(false)
  })

  it('should not set Secure over https when the application does not trust the proxy', async () => {
    const { reply, seen } = await through('untrusted', { scheme: 'https' })
    expect(seen.xForwardedProto).toBe('https')
    expect(seen.protocol).toBe('http')
    expect(isSecure(sessionCookie(reply))).toBe(false)
  })

  it('should not set Secure when a client over http sends its own X-Forwarded-Proto: https', async () => {
    const { reply, seen } = await through('trusted', {
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
    })
    // nginx replaced both headers: the application sees what nginx saw.
    expect(seen.xForwardedProto).toBe('http')
    expect(seen.xForwardedHost).toBe('localhost')
    expect(seen.protocol).toBe('http')
    expect(seen.host).toBe('localhost')
    expect(isSecure(sessionCookie(reply))).toBe(false)
  })

  it('should keep the session across http and https through nginx', async () => {
    const first = await through('trusted', { scheme: 'https' })
    const cookie = (sessionCookie(first.reply) as string).split(';')[0] as string
    const second = await through('trusted', { scheme: 'https', headers: { cookie } })
    expect(second.seen.visits).toBe(first.seen.visits + 1)
  })
})

describe('behind nginx: the connection to the application', () => {
  it('should reuse kept-alive HTTP/1.1 connections to the application', async () => {
    const ports: number[] = []
    for (let i = 0; i < 3; i++) {
      // A new client connection each time; nginx's pooled connection to the app is reused.
      const { seen } = await through('trusted')
      expect(seen.httpVersion).toBe('1.1')
      // The client's Connection header is not passed on (keep-alive needs that).
      expect(seen.connection).toBeNull()
      ports.push(seen.remotePort)
    }
    expect(new Set(ports).size).toBe(1)
  })

  it("should close idle pooled connections on nginx's side first: its keepalive_timeout is below the app's", async () => {
    const { seen } = await through('trusted')
    const upstream = seconds(nginx.config, 'keepalive_timeout')
    expect(upstream).toBe(60)
    expect(seen.keepAliveTimeout).toBe(65_000)
    expect(upstream * 1000).toBeLessThan(seen.keepAliveTimeout)
  })

  it('should serve /static/ from disk in nginx, without reaching the application', async () => {
    const file = await get(nginx.httpPort, '/static/hello.txt', { localAddress: CLIENT })
    expect(file.status).toBe(200)
    expect(file.body).toBe('hello from nginx\n')
    expect(file.headers['cache-control']).toBe('max-age=604800')
    // The application's logging layer sends X-Request-Id on every response it writes.
    expect(file.headers['x-request-id']).toBeUndefined()
    const missing = await get(nginx.httpPort, '/static/missing.txt', { localAddress: CLIENT })
    expect(missing.status).toBe(404)
    expect(missing.headers['x-request-id']).toBeUndefined()
  })

  it('should proxy to @shallot/static in the application, the alternative', async () => {
    const file = await get(nginx.httpsPort, '/assets/hello.txt', {
      scheme: 'https',
      localAddress: CLIENT,
      ca: nginx.ca,
    })
    expect(file.status).toBe(200)
    expect(file.body).toBe('hello from the application\n')
    expect(file.headers.etag).toMatch(/^W\/"/)
    expect(file.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(await loggedAddress('/assets/hello.txt')).toBe(CLIENT)
  })
})
