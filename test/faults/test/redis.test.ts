/**
 * Redis killed with SIGKILL under a load of session writes, then restarted on the same port,
 * several times: the demo app with its sessions in a RedisStore (in this process, with the
 * client settings the session README recommends), and the demo server itself as it ships
 * (`node examples/demo/dist/server.js` with REDIS_URL, its own client settings).
 *
 * Each visitor is a cookie jar that loads the home page in a loop: the page counts its
 * visits in the session. A 2xx carries the count the server stored (the write is in Redis,
 * fsynced, before the response is sent), so the visitor remembers it as acknowledged. Then:
 * - while Redis is down, every answer is a 200 from before the kill or the documented
 *   `503 Session store unavailable`; nothing else, never a crash;
 * - after the restart, every visitor gets 200s again without anyone doing anything;
 * - no acknowledged write is lost: the counts a visitor sees only go up, and after the last
 *   recovery each session in Redis holds at least the last count its visitor was given.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { Agent, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { createApp } from '@shallot/example-demo/dist/app.js'
import { logging } from '@shallot/logging'
import { RedisStore } from '@shallot/session'
import {
  delay,
  failOnUnhandledRejections,
  type Listening,
  listen,
  RedisServer,
} from '@shallot/test-utils'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JsonLog, settle } from './helpers.js'

failOnUnhandledRejections()

const FULL = process.env.FAULTS_FULL !== undefined
/** Kills of the in-process variant (FAULTS_REDIS_KILLS). */
const KILLS = Number(process.env.FAULTS_REDIS_KILLS ?? (FULL ? 10 : 3))
/** Kills of the shipped demo server (no offline queue: 503 at once while Redis is down). */
const SERVER_KILLS = FULL ? 3 : 1
const VISITORS = 16
/** How long service may take to return after Redis is back. */
const RECOVERY_MS = 20_000
const SECRET = 'redis-faults-secret-0123456789abcdef0123'
const VISITS = /You have visited this page (\d+) times\./
const SERVER_JS = fileURLToPath(new URL('../../../examples/demo/dist/server.js', import.meta.url))

let redis: RedisServer
/** A client of the test's own, to read the sessions back. */
let reader: ReturnType<typeof createClient>

beforeAll(async () => {
  redis = await RedisServer.start()
})

afterAll(async () => {
  reader?.destroy()
  await redis?.stop()
})

async function readSession(prefix: string, cookie: string): Promise<number | undefined> {
  if (reader === undefined || !reader.isOpen) {
    reader = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100 } })
    reader.on('error', () => {})
    await reader.connect()
  }
  const id = decodeURIComponent(cookie.slice('sid='.length)).split('.')[0] as string
  const raw = await reader.hGet(`${prefix}${id}`, 'd:visits')
  return raw === null ? undefined : (JSON.parse(raw) as number)
}

interface Answer {
  status: number | undefined
  body: string
  setCookie: string[]
  error: string | undefined
}

/** A browser with one cookie, one kept-alive connection, one request at a time. */
class Visitor {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 })
  cookie: string | undefined
  /** The last count a 2xx gave: acknowledged, in Redis. */
  acked = 0
  /** 200s and 503s since the last kill. */
  okSinceKill = 0
  refusedSinceKill = 0
  /** Counts that went down (a lost write), answers that are neither, transport errors. */
  readonly problems: string[] = []
  sent = 0
  /** Writes answered with a 503 that reached Redis all the same (the count jumped). */
  landed = 0
  readonly ids: string[] = []

  constructor(
    readonly url: string,
    readonly name: string
  ) {}

  get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
    const { port, hostname } = new URL(this.url)
    const id = `${this.name}-${++this.sent}`
    this.ids.push(id)
    return new Promise((resolve) => {
      const req = request(
        {
          host: hostname,
          port,
          path,
          agent: this.agent,
          headers: {
            'x-request-id': id,
            ...(this.cookie === undefined ? {} : { cookie: this.cookie }),
            ...headers,
          },
        },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => {
            body += c
          })
          res.on('end', () =>
            resolve({
              status: res.statusCode,
              body,
              setCookie: res.headers['set-cookie'] ?? [],
              error: undefined,
            })
          )
          res.on('error', (err) =>
            resolve({ status: res.statusCode, body, setCookie: [], error: err.message })
          )
        }
      )
      req.on('error', (err) =>
        resolve({ status: undefined, body: '', setCookie: [], error: err.message })
      )
      req.end()
    })
  }

  /** One visit of the home page; returns the status. */
  async visit(): Promise<number | undefined> {
    const accept = this.sent % 2 === 0 ? 'text/html' : 'application/json'
    const res = await this.get('/', { accept })
    if (res.error !== undefined) {
      this.problems.push(`transport error: ${res.error}`)
      return undefined
    }
    if (res.status === 200) {
      const sid = res.setCookie.find((c) => c.startsWith('sid='))
      if (sid !== undefined) this.cookie = sid.split(';')[0]
      const count = Number(VISITS.exec(res.body)?.[1])
      if (!(count > this.acked)) {
        this.problems.push(
          `count went from ${this.acked} to ${count}: an acknowledged write is lost`
        )
      }
      if (count > this.acked + 1 && this.acked > 0) this.landed += count - this.acked - 1
      this.acked = count
      this.okSinceKill++
    } else if (res.status === 503) {
      const documented =
        accept === 'text/html'
          ? res.body === 'Session store unavailable\n'
          : res.body ===
            '{"statusCode":503,"error":"Service Unavailable","message":"Session store unavailable"}'
      this.refusedSinceKill++
      if (!documented) this.problems.push(`503 with ${JSON.stringify(res.body)}`)
      if (res.setCookie.length > 0) this.problems.push('a 503 set a cookie')
      if (res.body.includes(' at ')) this.problems.push('a stack trace on the wire')
    } else {
      this.problems.push(`status ${res.status}: ${res.body.slice(0, 200)}`)
    }
    return res.status
  }
}

/** Visitors loading the home page in a loop until `stop()`. */
class Load {
  readonly visitors: Visitor[]
  readonly statuses = new Map<string, number>()
  #running = true
  readonly #loops: Promise<void>[]

  constructor(url: string, prefix: string) {
    this.visitors = Array.from({ length: VISITORS }, (_, i) => new Visitor(url, `${prefix}${i}`))
    this.#loops = this.visitors.map(async (v) => {
      while (this.#running) {
        const status = String(await v.visit())
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1)
        // a pause while refused, so that an outage is not a busy loop
        if (status !== '200') await delay(20)
      }
    })
  }

  count(status: string): number {
    return this.statuses.get(status) ?? 0
  }

  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
    for (const v of this.visitors) v.agent.destroy()
  }

  problems(): string[] {
    return this.visitors.flatMap((v) => v.problems.map((p) => `${v.name}: ${p}`))
  }
}

interface Figures {
  kills: number
  survived: number
  requests: number
  acknowledged: number
  refused: number
  /** Refused writes that reached Redis all the same (not lost, not acknowledged). */
  landedAnyway: number
}

/**
 * Kills Redis `kills` times under `load`, checking the outage with `duringOutage`; returns
 * the figures. A kill counts as survived when service came back by itself and nothing was
 * lost or answered wrongly meanwhile.
 */
async function killUnderLoad(
  load: Load,
  kills: number,
  duringOutage: () => Promise<void>
): Promise<Figures> {
  let survived = 0
  for (let k = 0; k < kills; k++) {
    // under load, with every visitor served
    await settle(() => {
      for (const v of load.visitors) expect(v.okSinceKill).toBeGreaterThanOrEqual(20)
    }, RECOVERY_MS)
    await redis.kill('SIGKILL')
    for (const v of load.visitors) {
      v.okSinceKill = 0
      v.refusedSinceKill = 0
    }
    // the documented answer, to every visitor, more than once (requests in flight at the
    // kill fail first; the next ones find Redis gone)
    await settle(() => {
      for (const v of load.visitors) expect(v.refusedSinceKill).toBeGreaterThanOrEqual(3)
    }, RECOVERY_MS)
    await duringOutage()

    await redis.restart()
    // back by itself: every visitor is served again
    await settle(() => {
      for (const v of load.visitors) expect(v.okSinceKill).toBeGreaterThan(0)
    }, RECOVERY_MS)
    expect(load.problems()).toEqual([])
    survived++
  }
  return {
    kills,
    survived,
    requests: [...load.statuses.values()].reduce((a, b) => a + b, 0),
    acknowledged: load.count('200'),
    refused: load.count('503'),
    landedAnyway: load.visitors.reduce((n, v) => n + v.landed, 0),
  }
}

/** After the load stopped: each session in Redis holds at least what its visitor was given. */
async function nothingLost(load: Load, prefix: string): Promise<void> {
  for (const v of load.visitors) {
    expect(v.cookie, `${v.name} has a session`).toBeDefined()
    const stored = await readSession(prefix, v.cookie as string)
    expect(stored, `${v.name}'s session in Redis`).toBeGreaterThanOrEqual(v.acked)
    // and the app reads it: the next visit counts on from there
    const before = v.acked
    expect(await v.visit()).toBe(200)
    expect(v.acked).toBe((stored as number) + 1)
    expect(v.acked).toBeGreaterThan(before)
  }
  expect(load.problems()).toEqual([])
}

describe('the demo app with a RedisStore (node-redis, no offline queue)', () => {
  const log = new JsonLog()
  let server: Listening
  let client: ReturnType<typeof createClient>
  let clientErrors = 0

  beforeAll(async () => {
    // the session README's recommended settings: fail fast while Redis is down
    client = createClient({
      url: redis.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: () => 100, connectTimeout: 1000 },
    })
    client.on('error', () => {
      clientErrors++
    })
    await client.connect()
    const app = createApp({
      accessLog: logging({ format: 'json', sink: log.sink }),
      sessionSecret: SECRET,
      sessionStore: new RedisStore({ client, prefix: 'app:' }),
      checks: { redis: () => client.ping() },
    })
    server = await listen(app)
  })

  afterAll(async () => {
    await server?.close()
    client?.destroy()
  })

  it(`survives ${KILLS} SIGKILLs of Redis under load: 503s meanwhile, back by itself, no acknowledged write lost`, async () => {
    const load = new Load(server.url, 'app-')
    const probe = new Visitor(server.url, 'probe')
    let figures: Figures
    try {
      figures = await killUnderLoad(load, KILLS, async () => {
        // what else the app answers while Redis is down
        const health = await probe.get('/healthz')
        expect(health.status).toBe(200)
        const ready = await probe.get('/readyz')
        expect(ready.status).toBe(503)
        expect(JSON.parse(ready.body)).toMatchObject({
          status: 'fail',
          checks: { redis: { status: 'fail' } },
        })
        // no session cookie: the session layer does nothing, the file is served
        const file = await probe.get('/static/hello.txt')
        expect(file.status).toBe(200)
        // with a session cookie too: static sits before the session layer, so a file never
        // waits for (or is refused for) the session store
        const withSession = await probe.get('/static/hello.txt', {
          cookie: load.visitors[0]?.cookie as string,
        })
        expect(withSession.status).toBe(200)
      })
    } finally {
      await load.stop()
    }
    await nothingLost(load, 'app:')
    expect(clientErrors).toBeGreaterThan(0)

    // every request logged exactly once; the 503s as server errors, with their cause
    await settle(() => {
      const counts = log.counts()
      for (const v of load.visitors) for (const id of v.ids) expect(counts.get(id)).toBe(1)
    })
    const refusals = log.lines.filter((l) => l.status === 503 && l.url === '/')
    expect(refusals.length).toBe(load.count('503'))
    for (const l of refusals) {
      expect(l.level).toBe('error')
      expect(l.err?.message).toBe('Session store unavailable')
    }
    console.log(`redis (in process): ${JSON.stringify(figures)}`)
    expect(figures.survived).toBe(KILLS)
  })
})

describe('the demo server as shipped (server.js with REDIS_URL)', () => {
  let child: ChildProcess | undefined
  let url: string
  let stderr = ''
  let exit: { code: number | null; signal: string | null } | undefined

  beforeAll(async () => {
    child = spawn(process.execPath, [SERVER_JS], {
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        REDIS_URL: redis.url,
        SESSION_SECRET: SECRET,
        LOG_FORMAT: 'json',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.once('exit', (code, signal) => {
      exit = { code, signal }
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (c: string) => {
      stderr += c
    })
    child.stdout?.setEncoding('utf8')
    let stdout = ''
    const listening = new Promise<string>((resolve, reject) => {
      child?.stdout?.on('data', (c: string) => {
        stdout += c
        const m = /listening on (http:\/\/localhost:\d+)/.exec(stdout)
        if (m?.[1] !== undefined) resolve(m[1].replace('localhost', '127.0.0.1'))
      })
      child?.once('exit', () => reject(new Error(`the demo server exited: ${stderr}`)))
    })
    url = await listening
    // the access log goes on on stdout: keep reading it, so the pipe never fills
    child.stdout?.resume()
  })

  afterAll(async () => {
    if (child !== undefined && exit === undefined) {
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }
  })

  it(`survives ${SERVER_KILLS} SIGKILL(s) of Redis under load, never exits, and stops cleanly afterwards`, async () => {
    const load = new Load(url, 'srv-')
    let figures: Figures
    try {
      figures = await killUnderLoad(load, SERVER_KILLS, async () => {
        // Its client has no offline queue (disableOfflineQueue): requests get their 503
        // at once while Redis is down.
        expect(exit).toBeUndefined()
      })
    } finally {
      await load.stop()
    }
    await nothingLost(load, 'sess:')
    expect(exit).toBeUndefined()
    expect(stderr).toMatch(/Redis \(redis:\/\/127\.0\.0\.1:\d+\): /)
    // a graceful stop after the faults: exit code 0
    const exited = once(child as ChildProcess, 'exit')
    child?.kill('SIGTERM')
    await exited
    expect(exit).toEqual({ code: 0, signal: null })
    console.log(`redis (demo server): ${JSON.stringify(figures)}`)
    expect(figures.survived).toBe(SERVER_KILLS)
  })
})
