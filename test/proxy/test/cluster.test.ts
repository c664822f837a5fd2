/**
 * Several worker processes: two shallot-serve instances of fixtures/cluster-app.mjs with two
 * workers each, sessions in one real Redis. `primary` runs `--primary
 * @shallot/monitoring/primary` (cluster-wide /metrics), `plain` does not; nginx, with the
 * recipe's configuration, is in front of `primary`.
 *
 * Requests sent straight to shallot-serve go on a new connection each, so that cluster's
 * round-robin hands them to the workers in turn. Every request that the monitoring layer
 * counts (anything but its own endpoints) is counted here too, per worker, from the
 * X-Worker-Pid header, so that /metrics can be compared exactly.
 */
import { RedisServer } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cookiePair, get, type Reply, type RequestOptions, sessionCookie, sumOf } from './client.js'
import { type Nginx, type Serving, shallotServe, startNginx, stopAll } from './processes.js'

const WORKERS = 2
const DURATION_COUNT = 'http_server_request_duration_seconds_count'
const REQUESTS_TOTAL = 'http_server_requests_total'

let redis: RedisServer | undefined
let primary: Serving
let plain: Serving
let nginx: Nginx

/** Requests the monitoring layer counted, per server and worker pid. */
const counted = new Map<Serving, Map<number, number>>()

beforeAll(async () => {
  redis = await RedisServer.start()
  const env = { REDIS_URL: redis.url }
  ;[primary, plain] = await Promise.all([
    shallotServe(
      'cluster-app.mjs',
      ['--workers', String(WORKERS), '--primary', '@shallot/monitoring/primary'],
      { ...env, SESSION_PREFIX: 'primary' }
    ),
    shallotServe('cluster-app.mjs', ['--workers', String(WORKERS)], {
      ...env,
      SESSION_PREFIX: 'plain',
    }),
  ])
  counted.set(primary, new Map())
  counted.set(plain, new Map())
  nginx = await startNginx(primary.port, {})
}, 60_000)

afterAll(async () => {
  await stopAll()
  await redis?.stop()
}, 30_000)

function workerOf(reply: Reply): number {
  const pid = Number(reply.headers['x-worker-pid'])
  if (!Number.isInteger(pid) || pid <= 0)
    throw new Error(`no X-Worker-Pid: ${JSON.stringify(reply.headers)}`)
  return pid
}

const ENDPOINTS = new Set(['/metrics', '/stats', '/healthz', '/readyz', '/_monitor'])

/**
 * GET `path` from `server`, straight (its port) or through nginx (`via`); records the request
 * against the worker that answered unless it is a monitoring endpoint (not counted).
 */
async function send(
  server: Serving,
  path: string,
  options: RequestOptions & { via?: Nginx } = {}
): Promise<Reply> {
  const { via, ...rest } = options
  const reply = await get(via === undefined ? server.port : via.httpPort, path, rest)
  if (reply.status === 403) return reply // refused by nginx: the application never saw it
  const pid = workerOf(reply)
  if (!ENDPOINTS.has(path)) {
    const perWorker = counted.get(server) as Map<number, number>
    perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1)
  }
  return reply
}

const total = (server: Serving): number =>
  [...(counted.get(server) as Map<number, number>).values()].reduce((a, b) => a + b, 0)

/** Sends `n` requests to `/`, one connection each; returns how many each worker answered. */
async function spread(server: Serving, n: number): Promise<Map<number, number>> {
  const answered = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    const pid = workerOf(await send(server, '/'))
    answered.set(pid, (answered.get(pid) ?? 0) + 1)
  }
  return answered
}

/** Waits (bounded) until /stats on `server` reports `processes`: every monitor joined. */
async function untilProcesses(server: Serving, processes: number): Promise<void> {
  for (let i = 0; ; i++) {
    const stats = JSON.parse((await send(server, '/stats')).body) as { processes: number }
    if (stats.processes === processes) return
    if (i === 50)
      throw new Error(`/stats never reported ${processes} processes (last: ${stats.processes})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('several workers: sessions in Redis', () => {
  it('should see one session from every worker, the counter rising by one each time', async () => {
    expect(primary.workers).toHaveLength(WORKERS)
    const pids = new Set<number>()
    let cookie: string | undefined
    for (let i = 1; i <= 20 && !(pids.size === WORKERS && i > 6); i++) {
      const reply = await send(
        primary,
        '/count',
        cookie === undefined ? {} : { headers: { cookie } }
      )
      expect(reply.status).toBe(200)
      expect(reply.body, `request ${i}, worker ${workerOf(reply)}`).toBe(String(i))
      pids.add(workerOf(reply))
      const set = sessionCookie(reply)
      if (set !== undefined) cookie = cookiePair(set)
    }
    expect([...pids].sort()).toEqual([...primary.workers].sort())
  })
})

describe('several workers: /metrics', () => {
  it('should report the whole cluster with --primary @shallot/monitoring/primary, whichever worker answers', async () => {
    await untilProcesses(primary, WORKERS)
    const answered = await spread(primary, 10)
    expect([...answered.keys()].sort()).toEqual([...primary.workers].sort())

    const expected = total(primary)
    const scrapedBy = new Set<number>()
    for (let i = 0; i < 10 && scrapedBy.size < WORKERS; i++) {
      const metrics = await send(primary, '/metrics')
      expect(metrics.status).toBe(200)
      scrapedBy.add(workerOf(metrics))
      // Every request of both workers; the scrapes and the /stats polls are not counted.
      expect(sumOf(metrics.body, DURATION_COUNT)).toBe(expected)
      expect(sumOf(metrics.body, REQUESTS_TOTAL)).toBe(expected)
    }
    expect(scrapedBy.size).toBe(WORKERS)
  })

  it('should report each worker alone without --primary', async () => {
    const answered = await spread(plain, 10)
    expect(answered.size).toBe(WORKERS)
    const perWorker = counted.get(plain) as Map<number, number>
    // One scrape per connection: the workers answer in turn (one loop per endpoint, or the
    // turns would pair each endpoint with one worker).
    const scrapedBy = new Set<number>()
    for (let i = 0; i < 10 && scrapedBy.size < WORKERS; i++) {
      const metrics = await send(plain, '/metrics')
      const pid = workerOf(metrics)
      scrapedBy.add(pid)
      // The answering worker's own requests, not the cluster's.
      expect(sumOf(metrics.body, DURATION_COUNT)).toBe(perWorker.get(pid))
      expect(sumOf(metrics.body, DURATION_COUNT)).toBeLessThan(total(plain))
    }
    expect(scrapedBy.size).toBe(WORKERS)
    const statsBy = new Set<number>()
    for (let i = 0; i < 10 && statsBy.size < WORKERS; i++) {
      const stats = await send(plain, '/stats')
      statsBy.add(workerOf(stats))
      const s = JSON.parse(stats.body) as { processes: number; requests: { total: number } }
      expect(s.processes).toBe(1)
      expect(s.requests.total).toBe(perWorker.get(workerOf(stats)))
    }
    expect(statsBy.size).toBe(WORKERS)
  })
})

describe('several workers behind nginx', () => {
  it('should keep /metrics, /stats and the dashboard to this machine', async () => {
    for (const path of ['/metrics', '/stats', '/_monitor', '/%6Detrics']) {
      const refused = await send(primary, path, { via: nginx, localAddress: '127.0.0.2' })
      expect(refused.status, path).toBe(403)
      expect(refused.headers['x-worker-pid'], path).toBeUndefined()
    }
    // Probes stay open.
    const healthz = await send(primary, '/healthz', { via: nginx, localAddress: '127.0.0.2' })
    expect(healthz.status).toBe(200)
  })

  it('should report the whole cluster through nginx, whichever worker its pooled connection reaches', async () => {
    await untilProcesses(primary, WORKERS)
    for (let i = 0; i < 6; i++) {
      const reply = await send(primary, '/', { via: nginx, localAddress: '127.0.0.2' })
      expect(reply.status).toBe(200)
    }
    const metrics = await send(primary, '/metrics', { via: nginx })
    expect(metrics.status).toBe(200)
    expect(sumOf(metrics.body, DURATION_COUNT)).toBe(total(primary))
  })
})
