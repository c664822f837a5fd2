import { Writable } from 'node:stream'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type LoggerLike, logging } from '../src/index.js'
import { captureWarnings, get, hello, MemoryStream, serving, until } from './helpers.js'

failOnUnhandledRejections()

afterEach(() => {
  vi.restoreAllMocks()
})

/**
 * A slow stream: it holds every write's callback until `release()`, as a disk or a pipe
 * that cannot keep up does. With a small highWaterMark, write() returns false at once.
 */
class GatedStream extends Writable {
  chunks: string[] = []
  held: (() => void)[] = []
  /** Calls to write() made while a callback was held. */
  writesWhileHeld = 0

  constructor(highWaterMark = 16 * 1024) {
    super({ decodeStrings: false, highWaterMark })
  }

  override _write(chunk: string, _encoding: string, cb: () => void): void {
    this.chunks.push(String(chunk))
    this.held.push(cb)
  }

  override write(chunk: unknown, ...rest: never[]): boolean {
    if (this.held.length > 0) this.writesWhileHeld++
    return super.write(chunk, ...rest)
  }

  release(): void {
    const held = this.held
    this.held = []
    for (const cb of held) cb()
  }

  get lines(): string[] {
    const text = this.chunks.join('')
    return text === '' ? [] : text.slice(0, -1).split('\n')
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30))

describe('logging: stream sink', () => {
  it('should batch the lines of a busy moment into one write', async () => {
    const sink = new GatedStream()
    const log = logging({ sink, format: ':url' })
    await serving(log, hello, async (server) => {
      await get(server, '/0')
      await until(() => sink.chunks.length === 1)
      // The first write is in flight: the next lines wait and go out together.
      for (let i = 1; i <= 20; i++) await get(server, `/${i}`)
      await until(() => log.stats().buffered === 20)
      expect(sink.chunks).toHaveLength(1)
      sink.release()
      await until(() => sink.chunks.length === 2)
      sink.release()
      await log.flush()
    })
    expect(sink.chunks).toHaveLength(2)
    expect(sink.lines).toEqual(Array.from({ length: 21 }, (_, i) => `/${i}`))
    expect(log.stats()).toEqual({ written: 21, dropped: 0, buffered: 0, errors: 0 })
  })

  it('should gather the lines of flushInterval into one write', async () => {
    const sink = new MemoryStream()
    const log = logging({ sink, format: ':url', flushInterval: 60_000 })
    await serving(log, hello, async (server) => {
      for (let i = 0; i < 10; i++) await get(server, `/${i}`)
      await until(() => log.stats().buffered === 10)
      await settle()
      expect(sink.writes).toBe(0)
      await log.flush()
    })
    expect(sink.writes).toBe(1)
    expect(sink.lines).toEqual(Array.from({ length: 10 }, (_, i) => `/${i}`))
  })

  it('should write 64 KiB of waiting lines without waiting for the interval', async () => {
    const sink = new MemoryStream()
    const long = 'x'.repeat(1000)
    const log = logging({ sink, format: ':url', flushInterval: 60_000 })
    await serving(log, hello, async (server) => {
      for (let i = 0; i < 70; i++) await get(server, `/${long}`)
      await until(() => sink.writes === 1)
      expect(sink.lines.length).toBeGreaterThanOrEqual(64)
      await log.flush()
    })
    expect(sink.lines).toHaveLength(70)
  })

  it('should write on the next turn with flushInterval: 0', async () => {
    const sink = new MemoryStream()
    const log = logging({ sink, format: ':url', flushInterval: 0 })
    await serving(log, hello, async (server) => {
      await get(server, '/now')
      await until(() => sink.lines.length === 1)
    })
    expect(sink.lines).toEqual(['/now'])
  })

  it('should answer requests while the stream is stuck (no blocking), and lose no line', async () => {
    const sink = new GatedStream()
    const log = logging({ sink, format: ':url' })
    await serving(log, hello, async (server) => {
      await get(server, '/0')
      await until(() => sink.chunks.length === 1)
      for (let i = 1; i < 50; i++) {
        const res = await get(server, `/${i}`)
        expect(res.status).toBe(200)
      }
      await until(() => log.stats().buffered === 49)
      sink.release()
      await until(() => sink.held.length === 1)
      sink.release()
      await log.flush()
    })
    expect(sink.lines).toEqual(Array.from({ length: 50 }, (_, i) => `/${i}`))
    expect(sink.writesWhileHeld).toBe(0)
  })

  it('should wait for drain when write() returns false', async () => {
    const sink = new GatedStream(1)
    const drains = vi.fn()
    sink.on('drain', drains)
    const log = logging({ sink, format: ':url' })
    await serving(log, hello, async (server) => {
      await get(server, '/a')
      await until(() => sink.chunks.length === 1)
      expect(sink.writableNeedDrain).toBe(true)
      await get(server, '/b')
      await get(server, '/c')
      await settle()
      expect(sink.chunks).toHaveLength(1)
      sink.release()
      await until(() => sink.chunks.length === 2)
      expect(drains).toHaveBeenCalledTimes(1)
      sink.release()
      await log.flush()
    })
    expect(sink.lines).toEqual(['/a', '/b', '/c'])
    expect(sink.writesWhileHeld).toBe(0)
  })

  it('should bound the buffer, count what it drops, and say so in one line once drained', async () => {
    const w = captureWarnings()
    try {
      const sink = new GatedStream()
      // Lines are "/NN\n" (4 characters): 10 fit in 40.
      const log = logging({ sink, format: ':url', bufferSize: 40 })
      await serving(log, hello, async (server) => {
        await get(server, '/00')
        await until(() => sink.chunks.length === 1)
        for (let i = 1; i <= 30; i++) await get(server, `/${String(i).padStart(2, '0')}`)
        await until(() => log.stats().buffered + log.stats().dropped === 30)
        expect(log.stats()).toMatchObject({ buffered: 10, dropped: 20 })
        sink.release()
        await until(() => sink.chunks.length === 2)
        sink.release()
        await log.flush()
      })
      expect(sink.lines).toEqual([
        ...Array.from({ length: 11 }, (_, i) => `/${String(i).padStart(2, '0')}`),
        '[@shallot/logging] 20 lines dropped: the log stream was too slow',
      ])
      expect(log.stats()).toEqual({ written: 12, dropped: 20, buffered: 0, errors: 0 })
      const dropped = w.warnings.filter(
        (x) => (x as Error & { code?: string }).code === 'SHALLOT_LOGGING_DROPPED'
      )
      expect(dropped).toHaveLength(1)
    } finally {
      w.restore()
    }
  })

  it('should write the summary as a JSON line with the json format', async () => {
    const w = captureWarnings()
    try {
      const sink = new GatedStream()
      const log = logging({ sink, format: 'json', bufferSize: 0 })
      await serving(log, hello, async (server) => {
        await get(server, '/first')
        await until(() => sink.chunks.length === 1)
        await get(server, '/lost')
        await until(() => log.stats().dropped === 1)
        sink.release()
        await until(() => sink.chunks.length === 2)
        sink.release()
        await log.flush()
      })
      expect(sink.lines).toHaveLength(2)
      expect(JSON.parse(sink.lines[1] as string)).toMatchObject({
        level: 'warn',
        msg: '[@shallot/logging] 1 line dropped: the log stream was too slow',
        dropped: 1,
      })
    } finally {
      w.restore()
    }
  })

  it('should flush on shutdown: resolve once every line is written', async () => {
    const sink = new GatedStream()
    const log = logging({ sink, format: ':url' })
    let flushed = false
    await serving(log, hello, async (server) => {
      await get(server, '/one')
      await until(() => sink.chunks.length === 1)
      await get(server, '/two')
      await until(() => log.stats().buffered === 1)
    })
    const done = log.flush().then(() => {
      flushed = true
    })
    await settle()
    expect(flushed).toBe(false)
    sink.release()
    await until(() => sink.chunks.length === 2)
    await settle()
    expect(flushed).toBe(false)
    sink.release()
    await done
    expect(flushed).toBe(true)
    expect(sink.lines).toEqual(['/one', '/two'])
  })

  it('should flush lines still waiting for their turn', async () => {
    const sink = new MemoryStream()
    const log = logging({ sink, format: ':url' })
    await serving(log, hello, async (server) => {
      await get(server, '/x')
      await until(() => log.stats().written + log.stats().buffered === 1)
    })
    await log.flush()
    expect(sink.lines).toEqual(['/x'])
    await log.flush() // nothing pending: resolves too
  })

  it('should end the stream on close() and count lines logged afterwards', async () => {
    const w = captureWarnings()
    try {
      const sink = new MemoryStream()
      const log = logging({ sink, format: ':url' })
      await serving(log, hello, async (server) => {
        await get(server, '/before')
        await until(() => log.stats().written + log.stats().buffered === 1)
        await log.close()
        expect(sink.writableFinished).toBe(true)
        expect(sink.lines).toEqual(['/before'])
        const res = await get(server, '/after')
        expect(res.status).toBe(200)
        await until(() => log.stats().dropped === 1)
      })
      expect(w.warnings.some((x) => /after close\(\)/.test(x.message))).toBe(true)
    } finally {
      w.restore()
    }
  })

  it('should not warn of dropped lines when flush() then close() come within the interval', async () => {
    // The interval's timer armed for the last line is still running at close(); when it
    // fires there is nothing to write, and the ended stream is no reason to warn.
    const w = captureWarnings()
    try {
      const sink = new MemoryStream()
      const log = logging({ sink, format: ':url', flushInterval: 200 })
      await serving(log, hello, async (server) => {
        await get(server, '/last')
        await until(() => log.stats().buffered === 1)
        await log.flush()
      })
      await log.close()
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(sink.lines).toEqual(['/last'])
      expect(log.stats()).toEqual({ written: 1, dropped: 0, buffered: 0, errors: 0 })
      expect(w.warnings.map((x) => x.message)).toEqual([])
    } finally {
      w.restore()
    }
  })

  it('should not end process.stdout on close()', async () => {
    const log = logging({ format: ':url', requestId: false })
    await log.close()
    expect(process.stdout.writableEnded).toBe(false)
  })

  it('should survive a stream that fails: count, warn once, keep serving', async () => {
    const w = captureWarnings()
    try {
      const sink = new Writable({
        write(_chunk, _enc, cb) {
          cb(new Error('disk full'))
        },
      })
      const log = logging({ sink, format: ':url' })
      await serving(log, hello, async (server) => {
        for (let i = 0; i < 3; i++) {
          expect((await get(server, `/${i}`)).status).toBe(200)
          await settle()
        }
      })
      expect(log.stats().errors).toBe(1)
      expect(log.stats().written + log.stats().dropped).toBe(3)
      expect(log.stats().dropped).toBeGreaterThanOrEqual(2)
      const sinkWarnings = w.warnings.filter((x) =>
        /the log stream failed: disk full/.test(x.message)
      )
      expect(sinkWarnings).toHaveLength(1)
      await log.flush() // a failed stream does not hang flush()
    } finally {
      w.restore()
    }
  })

  it('should add one error listener per stream, however many layers write to it', async () => {
    const w = captureWarnings()
    try {
      const sink = new MemoryStream()
      const before = sink.listenerCount('error')
      const logs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(() => logging({ sink }))
      expect(sink.listenerCount('error') - before).toBe(1)
      sink.emit('error', new Error('gone'))
      for (const log of logs) expect(log.stats().errors).toBe(1)
    } finally {
      w.restore()
    }
  })

  it('should drop (and count) lines for a destroyed stream', async () => {
    const w = captureWarnings()
    try {
      const sink = new MemoryStream()
      sink.destroy()
      const log = logging({ sink, format: ':url' })
      await serving(log, hello, async (server) => {
        expect((await get(server)).status).toBe(200)
        await until(() => log.stats().dropped === 1)
      })
      expect(w.warnings.some((x) => /closed or destroyed/.test(x.message))).toBe(true)
    } finally {
      w.restore()
    }
  })

  it('should survive a stream whose write() throws', async () => {
    const w = captureWarnings()
    try {
      const sink = new MemoryStream()
      sink.write = () => {
        throw new Error('write exploded')
      }
      const log = logging({ sink, format: ':url' })
      await serving(log, hello, async (server) => {
        expect((await get(server)).status).toBe(200)
        await until(() => log.stats().dropped === 1)
      })
      expect(log.stats().errors).toBe(1)
      expect(w.warnings.some((x) => /write exploded/.test(x.message))).toBe(true)
    } finally {
      w.restore()
    }
  })
})

describe('logging: function sink', () => {
  it('should survive a throwing sink: count it, warn once, keep serving', async () => {
    const w = captureWarnings()
    try {
      const sink = vi.fn(() => {
        throw new Error('sink down')
      })
      const log = logging({ sink })
      await serving(log, hello, async (server) => {
        for (let i = 0; i < 3; i++) expect((await get(server)).status).toBe(200)
        await until(() => sink.mock.calls.length === 3)
      })
      expect(log.stats()).toEqual({ written: 0, dropped: 3, buffered: 0, errors: 3 })
      const mine = w.warnings.filter((x) => /sink function threw: sink down/.test(x.message))
      expect(mine).toHaveLength(1)
      expect((mine[0] as Error & { code?: string }).code).toBe('SHALLOT_LOGGING_SINK_ERROR')
    } finally {
      w.restore()
    }
  })

  it('should count a throwing format function as a dropped line', async () => {
    const w = captureWarnings()
    try {
      const lines: string[] = []
      const log = logging({
        sink: (line) => lines.push(line),
        format: (r) => {
          if (r.url === '/bad') throw new Error('format bug')
          return r.url
        },
      })
      await serving(log, hello, async (server) => {
        await get(server, '/bad')
        await get(server, '/good')
        await until(() => lines.length === 1)
      })
      expect(lines).toEqual(['/good'])
      expect(log.stats()).toMatchObject({ dropped: 1, errors: 1, written: 1 })
      expect(w.warnings.some((x) => /the format threw .*format bug/.test(x.message))).toBe(true)
    } finally {
      w.restore()
    }
  })
})

describe('logging: pino-style logger sink', () => {
  function fakeLogger(): LoggerLike & { calls: [string, unknown[]][]; flushed: number } {
    const calls: [string, unknown[]][] = []
    const logger = {
      calls,
      flushed: 0,
      info: (...args: unknown[]) => calls.push(['info', args]),
      warn: (...args: unknown[]) => calls.push(['warn', args]),
      error: (...args: unknown[]) => calls.push(['error', args]),
      flush(cb?: () => void) {
        logger.flushed++
        setImmediate(() => cb?.())
      },
    }
    return logger as LoggerLike & { calls: [string, unknown[]][]; flushed: number }
  }

  it('should call info/warn/error by status class with the json fields (default format)', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const logger = fakeLogger()
    const log = logging({ sink: logger })
    await serving(
      log,
      (req, res) => {
        if (req.url === '/throw') throw new Error('kaput')
        res.statusCode = Number(req.url?.slice(1))
        res.end()
      },
      async (server) => {
        for (const path of ['/200', '/302', '/404', '/503', '/throw']) {
          await get(server, path, { 'x-request-id': `id${path.replace('/', '-')}` })
        }
        await until(() => logger.calls.length === 5)
      }
    )
    expect(logger.calls.map(([level]) => level)).toEqual(['info', 'info', 'warn', 'error', 'error'])
    const [, [fields, msg]] = logger.calls[0] as [string, [Record<string, unknown>, string]]
    expect(msg).toBe('request completed')
    expect(fields).toEqual({
      method: 'GET',
      url: '/200',
      status: 200,
      bytes: 0,
      duration: expect.any(Number),
      remoteAddress: '127.0.0.1',
      userAgent: null,
      referrer: null,
      requestId: 'id-200',
      aborted: false,
    })
    const [, [errFields, errMsg]] = logger.calls[4] as [string, [Record<string, unknown>, string]]
    expect(errMsg).toBe('request errored')
    expect(errFields.err).toBeInstanceOf(Error)
    expect((errFields.err as Error).message).toBe('kaput')
    expect(console.error).not.toHaveBeenCalled()
    await log.flush()
    expect(logger.flushed).toBe(1)
  })

  it('should pass a text line as the message with a text format', async () => {
    const logger = fakeLogger()
    await serving(logging({ sink: logger, format: 'tiny' }), hello, async (server) => {
      await get(server, '/t')
      await until(() => logger.calls.length === 1)
    })
    const [level, args] = logger.calls[0] as [string, unknown[]]
    expect(level).toBe('info')
    expect(args).toHaveLength(1)
    expect(args[0]).toMatch(/^GET \/t 200 5 - \d+\.\d{3} ms$/)
  })

  it('should survive a logger that throws', async () => {
    const w = captureWarnings()
    try {
      const logger = fakeLogger()
      logger.info = () => {
        throw new Error('logger down')
      }
      const log = logging({ sink: logger })
      await serving(log, hello, async (server) => {
        expect((await get(server)).status).toBe(200)
        await until(() => log.stats().dropped === 1)
      })
      expect(w.warnings.some((x) => /info\(\) threw: logger down/.test(x.message))).toBe(true)
    } finally {
      w.restore()
    }
  })

  it('should flush a logger whose flush takes no callback', async () => {
    const logger = fakeLogger()
    let flushed = 0
    logger.flush = () => {
      flushed++
    }
    await logging({ sink: logger }).flush()
    expect(flushed).toBe(1)
  })
})

describe('logging: lines waiting when the process exits', () => {
  it('should be written synchronously to a file stream’s descriptor', async () => {
    const { closeSync, mkdtempSync, openSync, readFileSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { Health, StreamSink } = await import('../src/sink.js')
    const dir = mkdtempSync(join(tmpdir(), 'shallot-logging-'))
    const fd = openSync(join(dir, 'exit.log'), 'w')
    try {
      // A stream that would write asynchronously, and never does before the exit.
      const stream = Object.assign(new GatedStream(), { fd })
      const sink = new StreamSink(stream, new Health(), 1024, false, 60_000)
      sink.text('one', 1)
      sink.text('two', 1)
      sink.flushAtExit()
      expect(readFileSync(join(dir, 'exit.log'), 'utf8')).toBe('one\ntwo\n')
      expect(stream.chunks).toEqual([])
      sink.flushAtExit() // nothing left: writes nothing more
      expect(readFileSync(join(dir, 'exit.log'), 'utf8')).toBe('one\ntwo\n')
    } finally {
      closeSync(fd)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('should be written to a stream without a descriptor, with the drop summary', () => {
    const stream = new GatedStream()
    return import('../src/sink.js').then(({ Health, StreamSink }) => {
      const w = captureWarnings()
      try {
        const sink = new StreamSink(stream, new Health(), 4, false, 60_000)
        sink.text('abc', 1)
        void sink.flush() // 'abc' is now in flight, held by the stream
        expect(stream.chunks).toEqual(['abc\n'])
        sink.text('d', 1) // waits
        sink.text('eee', 1) // over the limit of 4 characters: dropped
        sink.flushAtExit()
        stream.release()
        stream.release()
        expect(stream.chunks.join('')).toBe(
          'abc\nd\n[@shallot/logging] 1 line dropped: the log stream was too slow\n'
        )
      } finally {
        w.restore()
      }
    })
  })
})
