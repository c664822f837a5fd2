/**
 * A log stream that stalls under load, behind the demo app's access log: requests keep being
 * answered, the lines waiting for the stream stay within `bufferSize` (the rest are dropped
 * and counted), and once the stream resumes the summary of dropped lines is written and
 * `flush()` resolves.
 */

import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { createApp } from '@shallot/example-demo/dist/app.js'
import { type LoggingMiddleware, logging } from '@shallot/logging'
import { failOnUnhandledRejections, type Listening, listen } from '@shallot/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { heapAfterGc, KEY, type LogLine, load, settle } from './helpers.js'

failOnUnhandledRejections()

/** Requests sent while the stream is stalled (more with FAULTS_FULL=1). */
const REQUESTS = process.env.FAULTS_FULL ? 200_000 : 20_000
/** Requests sent before, with the stream flowing. */
const WARM_UP = 2_000
/** The access log's bufferSize (characters waiting for the stream), well under the default. */
const BUFFER_SIZE = 64 * 1024
/** The heap may grow by this much while lines are dropped; keeping them all would take more. */
const HEAP_SLACK = 3 * 1024 * 1024

const MIX = [
  { path: '/api/test', headers: { 'x-api-key': KEY } },
  { path: '/static/hello.txt' },
  { path: '/api/test' }, // 401
]

/** The statuses `load()` gets for `n` requests of MIX: every third is a 401. */
function expected(n: number): Map<number, number> {
  const unauthorized = Math.floor(n / 3)
  return new Map([
    [200, n - unauthorized],
    [401, unauthorized],
  ])
}

/**
 * A Writable that stalls on demand: while stalled, the write it was handed is never
 * acknowledged (its callback is held), so nothing else reaches it. With a high-water mark of 1
 * byte, `write()` also returns false, and `'drain'` only comes after `resume()`.
 */
class StallingStream extends Writable {
  text = ''
  #stalled = false
  #held: (() => void)[] = []

  constructor(highWaterMark: number) {
    super({ highWaterMark, decodeStrings: false })
  }

  override _write(chunk: string, _encoding: string, callback: () => void): void {
    this.text += chunk
    if (this.#stalled) this.#held.push(callback)
    else callback()
  }

  stall(): void {
    this.#stalled = true
  }

  resume(): void {
    this.#stalled = false
    for (const callback of this.#held.splice(0)) callback()
  }

  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '')
  }
}

let server: Listening | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

/** Resolves when `p` does, rejects after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms, undefined, { ref: false }).then(() => {
      throw new Error(`${what} did not happen within ${ms} ms`)
    }),
  ])
}

describe.each([
  ['never acknowledges a write', 1024 * 1024],
  ['asks to wait (write() returns false) and never drains', 1],
])('a log stream that %s', (_name, highWaterMark) => {
  it(`answers ${REQUESTS} requests meanwhile, keeps at most bufferSize waiting, counts the dropped lines and reports them once it resumes`, async () => {
    const stream = new StallingStream(highWaterMark)
    const warnings: string[] = []
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code?.startsWith('SHALLOT_LOGGING')) warnings.push(w.code)
    }
    process.on('warning', onWarning)
    try {
      const log: LoggingMiddleware = logging({
        format: 'json',
        sink: stream,
        bufferSize: BUFFER_SIZE,
      })
      server = await listen(createApp({ accessLog: log }))

      // Flowing: every line written.
      expect(await load(server.url, WARM_UP, MIX)).toEqual(expected(WARM_UP))
      await within(log.flush(), 10_000, 'flush() with a flowing stream')
      expect(log.stats()).toEqual({ written: WARM_UP, dropped: 0, buffered: 0, errors: 0 })
      const heapBefore = heapAfterGc()

      // Stalled: every request is still answered.
      stream.stall()
      const statuses = await load(server.url, REQUESTS, MIX)
      expect(statuses).toEqual(expected(REQUESTS))
      // every line is written, waiting, or dropped and counted
      const total = WARM_UP + REQUESTS
      await settle(() => {
        const s = log.stats()
        expect(s.written + s.buffered + s.dropped).toBe(total)
      })
      const stalled = log.stats()
      expect(stalled.dropped).toBeGreaterThan(0)
      expect(stalled.errors).toBe(0)
      expect(warnings).toEqual(['SHALLOT_LOGGING_DROPPED'])
      // memory stays bounded: what waits fits in bufferSize, the rest was not kept
      const heapStalled = heapAfterGc()
      expect(heapStalled - heapBefore).toBeLessThan(HEAP_SLACK)

      // Resumed: what waited is written, then one line says how many were dropped.
      stream.resume()
      await within(log.flush(), 10_000, 'flush() after the stream resumed')
      const after = log.stats()
      expect(after.buffered).toBe(0)
      expect(after.dropped).toBe(stalled.dropped)
      const lines = stream.lines().map((l) => JSON.parse(l) as LogLine)
      const summaries = lines.filter((l) => l.dropped !== undefined)
      expect(summaries).toEqual([
        expect.objectContaining({
          level: 'warn',
          msg: `[@shallot/logging] ${stalled.dropped} lines dropped: the log stream was too slow`,
          dropped: stalled.dropped,
        }),
      ])
      const access = lines.filter((l) => l.dropped === undefined)
      expect(access.length + after.dropped).toBe(total)
      expect(after.written).toBe(lines.length)
      // the lines that waited fitted in bufferSize
      const shortest = Math.min(...access.map((l) => JSON.stringify(l).length))
      expect(stalled.buffered * shortest).toBeLessThanOrEqual(BUFFER_SIZE)

      // and the log goes on as before
      await load(server.url, 100, MIX)
      await within(log.flush(), 10_000, 'flush() afterwards')
      expect(log.stats()).toMatchObject({ written: lines.length + 100, dropped: stalled.dropped })
      console.log(
        `log sink (highWaterMark ${highWaterMark}): ${REQUESTS} requests while stalled, ${stalled.written - WARM_UP} lines written, ${stalled.buffered} waiting, ${stalled.dropped} dropped; heap +${((heapStalled - heapBefore) / 2 ** 20).toFixed(2)} MiB`
      )
    } finally {
      process.off('warning', onWarning)
      stream.resume()
    }
  })
})
