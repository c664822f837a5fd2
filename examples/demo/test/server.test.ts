import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { Agent, get } from 'node:http'
import { fileURLToPath } from 'node:url'
import { delay, RedisServer, rawRequest } from '@shallot/test-utils'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

// The built server, as `pnpm start` runs it (turbo builds before testing).
const DEMO = fileURLToPath(new URL('..', import.meta.url))
const SERVER = fileURLToPath(new URL('../dist/server.js', import.meta.url))
/** The header that lets a request into /api with the demo's default key. */
const KEY = { 'x-api-key': 'test-key-123' }

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

interface Started {
  child: ChildProcess
  /** The URL the server printed. */
  url(): Promise<string>
  /** How the process ended. */
  exited(): Promise<Exit>
  stdout(): string
  stderr(): string
}

const children: ChildProcess[] = []

function start(env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, [SERVER], {
    cwd: DEMO,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  )
  const url = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', () => {
      const m = /Shallot demo listening on (http:\/\/\S+)/.exec(stdout)
      if (m) resolve(m[1] as string)
    })
    void exited.then(({ code }) =>
      reject(new Error(`the server exited (${code}) before listening:\n${stdout}${stderr}`))
    )
  })
  url.catch(() => {}) // reported when awaited, never as an unhandled rejection
  return {
    child,
    url: () => within(url, 10_000, 'the server did not print its URL'),
    exited: () => within(exited, 15_000, 'the server did not exit'),
    stdout: () => stdout,
    stderr: () => stderr,
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** GET over a kept-alive connection of `agent`. */
function keepAliveGet(url: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent, headers: KEY }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

beforeAll(() => {
  if (!existsSync(SERVER)) {
    throw new Error(`${SERVER} is missing: build the demo first (npx tsc -b, or pnpm build)`)
  }
})

afterEach(() => {
  // A failed test must not leave its server running.
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

describe('node dist/server.js', () => {
  it('should print its real URL with PORT=0 and answer there', async () => {
    const server = start()
    const url = await server.url()
    expect(url).toMatch(/^http:\/\/localhost:\d+$/)
    expect(Number(new URL(url).port)).toBeGreaterThan(0)
    const res = await fetch(`${url}/api/test`, { headers: KEY })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ path: '/api/test' })
    expect(res.headers.get('x-response-time')).toMatch(/^\d+\.\d{3}ms$/)
    expect(res.headers.get('server-timing')).toMatch(/^total;dur=[\d.]+, layer\.logging;dur=/)
    expect((await fetch(`${url}/api/test`)).status).toBe(401)
    server.child.kill('SIGTERM')
    expect(await server.exited()).toEqual({ code: 0, signal: null })
  })

  it('should let an in-flight request finish on SIGTERM, then exit 0', async () => {
    const server = start()
    const url = await server.url()
    const slow = rawRequest(url, { path: '/api/slow?ms=1000', headers: KEY })
    await delay(300) // the request is now being served
    server.child.kill('SIGTERM')
    const [res, exit] = await Promise.all([slow, server.exited()])
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body)).toMatchObject({ message: 'Answered after 1000 ms' })
    expect(exit).toEqual({ code: 0, signal: null })
    expect(server.stdout()).toContain('SIGTERM received: finishing 1 in-flight request(s)')
    // stdout is not a terminal: the combined format, flushed before the exit
    expect(server.stdout()).toMatch(
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/api\/slow\?ms=1000 HTTP\/1\.1" 200 \d+ "-" "-"$/m
    )
    expect(server.stdout()).toContain('Stopped.')
  })

  it('should not wait for kept-alive connections to time out', async () => {
    const server = start()
    const url = await server.url()
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      expect((await keepAliveGet(`${url}/api/test`, agent)).status).toBe(200)
      // Reuses the kept-alive connection; a second one stays idle in the agent afterwards.
      const slow = keepAliveGet(`${url}/api/slow?ms=500`, agent)
      await delay(200)
      const t0 = Date.now()
      server.child.kill('SIGINT')
      const [res, exit] = await Promise.all([slow, server.exited()])
      expect(res.status).toBe(200)
      expect(exit).toEqual({ code: 0, signal: null })
      // Node's keep-alive timeout is 5 s: exiting well before it means nothing waited for it.
      expect(Date.now() - t0).toBeLessThan(4000)
    } finally {
      agent.destroy()
    }
  })

  it('should cut requests still running after SHUTDOWN_TIMEOUT_MS and exit 1', async () => {
    const server = start({ SHUTDOWN_TIMEOUT_MS: '200' })
    const url = await server.url()
    const slow = rawRequest(url, { path: '/api/slow?ms=4000', headers: KEY }).then(
      () => 'answered',
      () => 'cut'
    )
    await delay(300)
    server.child.kill('SIGTERM')
    expect(await server.exited()).toEqual({ code: 1, signal: null })
    expect(await slow).toBe('cut')
    expect(server.stderr()).toContain('Requests still running after 200 ms')
  })

  it('should accept the keys named in DEMO_API_KEYS, trimmed, and no longer the default', async () => {
    const server = start({ DEMO_API_KEYS: ' key-one , key-two ' })
    const url = await server.url()
    for (const key of ['key-one', 'key-two']) {
      const res = await rawRequest(url, { path: '/api/test', headers: { 'x-api-key': key } })
      expect(res.status, key).toBe(200)
    }
    expect((await rawRequest(url, { path: '/api/test', headers: KEY })).status).toBe(401)
    expect((await rawRequest(url, { path: '/api/test' })).status).toBe(401)
    server.child.kill('SIGTERM')
    expect(await server.exited()).toEqual({ code: 0, signal: null })
  })

  it('should refuse an empty entry in DEMO_API_KEYS with a message and exit 1', async () => {
    for (const keys of ['secret-a,,secret-b', 'secret-a,', ' , ']) {
      const server = start({ DEMO_API_KEYS: keys })
      expect(await server.exited(), keys).toEqual({ code: 1, signal: null })
      expect(server.stderr(), keys).toContain(
        'DEMO_API_KEYS must be a comma-separated list of non-empty keys'
      )
      expect(server.stderr(), keys).not.toContain('secret-') // keys are never echoed
    }
  })

  it('should let the origins named in CORS_ORIGINS call it with credentials, and refuse a bad one', async () => {
    const server = start({ CORS_ORIGINS: 'http://localhost:5173, https://app.example.com' })
    const url = await server.url()
    for (const origin of ['http://localhost:5173', 'https://app.example.com']) {
      const res = await rawRequest(url, { path: '/api/test', headers: { ...KEY, origin } })
      expect(res.headers['access-control-allow-origin'], origin).toBe(origin)
      expect(res.headers['access-control-allow-credentials'], origin).toBe('true')
    }
    const other = await rawRequest(url, {
      path: '/api/test',
      headers: { ...KEY, origin: 'http://localhost:3000' },
    })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
    server.child.kill('SIGTERM')
    expect(await server.exited()).toEqual({ code: 0, signal: null })

    const bad = start({ CORS_ORIGINS: 'localhost:5173' })
    expect(await bad.exited()).toEqual({ code: 1, signal: null })
    expect(bad.stderr()).toMatch(/^Cannot start the demo: \[@shallot\/cors\] option "origin"/m)
  })

  it('should refuse an invalid PORT with a message and exit 1', async () => {
    const server = start({ PORT: 'eighty' })
    expect(await server.exited()).toEqual({ code: 1, signal: null })
    expect(server.stderr()).toContain('PORT must be an integer from 0 to 65535')
  })

  it('should log in the format LOG_FORMAT names, and refuse an unknown one', async () => {
    const server = start({ LOG_FORMAT: 'tiny' })
    const url = await server.url()
    await fetch(`${url}/nope`)
    server.child.kill('SIGTERM')
    expect(await server.exited()).toEqual({ code: 0, signal: null })
    expect(server.stdout()).toMatch(/^GET \/nope 404 \d+ - \d+\.\d{3} ms$/m)
    const bad = start({ LOG_FORMAT: 'fancy' })
    expect(await bad.exited()).toEqual({ code: 1, signal: null })
    expect(bad.stderr()).toContain(
      'LOG_FORMAT must be one of combined, common, short, tiny, dev, json'
    )
  })

  it('should refuse a SESSION_SECRET shorter than 32 characters', async () => {
    const server = start({ SESSION_SECRET: 'too-short' })
    expect(await server.exited()).toEqual({ code: 1, signal: null })
    expect(server.stderr()).toContain('SESSION_SECRET must be at least 32 characters long')
  })

  it('should share sessions between processes through REDIS_URL, and check Redis in /readyz', async () => {
    const redis = await RedisServer.start()
    try {
      const env = { REDIS_URL: redis.url, SESSION_SECRET: 'a shared secret of more than 32 chars' }
      const one = start(env)
      const two = start(env)
      const [urlOne, urlTwo] = await Promise.all([one.url(), two.url()])
      await expect.poll(() => one.stdout()).toContain('Sessions in Redis')
      const first = await fetch(`${urlOne}/`)
      expect(await first.text()).toContain('You have visited this page 1 times.')
      const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string
      const again = await fetch(`${urlTwo}/`, { headers: { cookie } })
      expect(await again.text()).toContain('You have visited this page 2 times.')
      const ready = await fetch(`${urlTwo}/readyz`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toMatchObject({ checks: { redis: { status: 'ok' } } })
      await redis.kill()
      const down = await fetch(`${urlTwo}/readyz`)
      expect(down.status).toBe(503)
      one.child.kill('SIGTERM')
      two.child.kill('SIGTERM')
      expect(await one.exited()).toEqual({ code: 0, signal: null })
      expect(await two.exited()).toEqual({ code: 0, signal: null })
    } finally {
      await redis.stop()
    }
  })
})
