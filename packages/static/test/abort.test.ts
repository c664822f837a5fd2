import { readdirSync } from 'node:fs'
import { request } from 'node:http'
import { type Middleware, onFinished } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Fixture, fixture, serve, waitFor } from './helpers.js'

failOnUnhandledRejections()

const SIZE = 16 * 1024 * 1024
const DOWNLOADS = 1000
const CONCURRENCY = 50

/** Open file descriptors of this process (the server and the clients live here). */
function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

let f: Fixture
beforeAll(() => {
  f = fixture({ 'large.bin': Buffer.alloc(SIZE, 7) })
})
afterAll(() => f.cleanup())

/** Starts a download and destroys the connection as soon as the first body bytes arrive. */
function abortMidBody(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.once('data', () => {
        req.destroy()
        resolve(res.statusCode ?? 0)
      })
      res.on('error', () => {})
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!req.destroyed || err.code !== 'ECONNRESET') reject(err)
    })
    req.end()
  })
}

describe('static: client aborts', () => {
  it(`should close the file descriptor of each of ${DOWNLOADS} downloads aborted mid-body`, async () => {
    let finished = 0
    let aborted = 0
    const count: Middleware = (next) =>
      function count(req, res) {
        onFinished(res, (err) => {
          finished++
          if (err !== null) aborted++
        })
        return next(req, res)
      }
    const s = await serve(f.root, {}, undefined, [count])
    try {
      // Warm up: the first request builds the entry's headers; sockets settle.
      expect((await s.get('/large.bin', {}, 'HEAD')).status).toBe(200)
      await new Promise((r) => setImmediate(r))
      const before = openFds()
      let started = 0
      const statuses: number[] = []
      const worker = async (): Promise<void> => {
        while (started < DOWNLOADS) {
          started++
          statuses.push(await abortMidBody(s.port, '/large.bin'))
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      expect(statuses.every((st) => st === 200)).toBe(true)
      await waitFor(() => finished === DOWNLOADS + 1, 10_000, 'every exchange to end')
      // Most downloads really were cut short on the server's side, mid-body.
      expect(aborted).toBeGreaterThan(DOWNLOADS * 0.9)
      await waitFor(() => openFds() <= before + 2, 10_000, `descriptors back to ${before}`)
      expect(openFds()).toBeLessThanOrEqual(before + 2)
    } finally {
      await s.close()
    }
  })

  it('should serve the file completely to a client that reads it', async () => {
    const s = await serve(f.root)
    try {
      const r = await s.get('/large.bin')
      expect(r.body.length).toBe(SIZE)
      expect(r.body.every((b) => b === 7)).toBe(true)
    } finally {
      await s.close()
    }
  })
})
