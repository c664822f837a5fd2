import { type IncomingMessage, request, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { createBrotliDecompress, createGunzip } from 'node:zlib'
import type { Listening } from '@shallot/test-utils'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { compression, flush } from '../src/index.js'
import { decode, get, text, withServer } from './helpers.js'

failOnUnhandledRejections()

/** A gate the test opens when the client has seen something. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {}
  const wait = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait, open }
}

/**
 * Opens a streamed response and decodes it as it arrives. `until(s)` resolves once the
 * decoded text so far contains `s`: a write stuck in a compressor never gets there, so the
 * test waiting for it fails (by its timeout) instead of passing.
 */
function stream(server: Listening, acceptEncoding: string | undefined, path = '/') {
  const received: { text: string; encoding: string | undefined; type: string | undefined } = {
    text: '',
    encoding: undefined,
    type: undefined,
  }
  const waiters: { needle: string; resolve: () => void }[] = []
  const check = () => {
    for (const w of [...waiters]) {
      if (received.text.includes(w.needle)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }
  const done = new Promise<void>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding },
        agent: false,
      },
      (res) => {
        received.encoding = res.headers['content-encoding']
        received.type = res.headers['content-type']
        const decoded =
          received.encoding === 'gzip'
            ? res.pipe(createGunzip())
            : received.encoding === 'br'
              ? res.pipe(createBrotliDecompress())
              : res
        decoded.setEncoding('utf8')
        decoded.on('data', (s: string) => {
          received.text += s
          check()
        })
        decoded.on('end', resolve)
        decoded.on('error', reject)
      }
    )
    req.on('error', reject)
    req.end()
  })
  const until = (needle: string) =>
    new Promise<void>((resolve) => {
      waiters.push({ needle, resolve })
      check()
    })
  return { received, until, done }
}

/** Writes three events; each after the client has received the previous one. */
function events(
  gates: { wait: Promise<void> }[],
  end = true
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
    for (let i = 0; i < gates.length; i++) {
      res.write(`id: ${i}\ndata: event ${i}\n\n`)
      await (gates[i] as { wait: Promise<void> }).wait
    }
    if (end) res.end()
  }
}

describe('compression: server-sent events', () => {
  it('should stream text/event-stream uncompressed by default, event by event', async () => {
    const gates = [gate(), gate(), gate()]
    await withServer(compression(), events(gates), async (server) => {
      const s = stream(server, 'gzip, deflate, br')
      for (let i = 0; i < 3; i++) {
        await s.until(`data: event ${i}\n\n`)
        gates[i]?.open()
      }
      await s.done
      expect(s.received.encoding).toBeUndefined()
      expect(s.received.text).toBe(
        'id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n'
      )
    })
  }, 5000)

  for (const coding of ['gzip', 'br']) {
    it(`should compress event streams with ${coding} when asked, flushing every event`, async () => {
      const gates = [gate(), gate(), gate()]
      await withServer(
        compression({ compressEventStream: true }),
        events(gates),
        async (server) => {
          const s = stream(server, coding)
          for (let i = 0; i < 3; i++) {
            await s.until(`data: event ${i}\n\n`)
            gates[i]?.open()
          }
          await s.done
          expect(s.received.encoding).toBe(coding)
          expect(s.received.text).toMatch(/event 2\n\n$/)
        }
      )
    }, 5000)
  }
})

describe('compression: flush', () => {
  /** NDJSON lines, each flushed with `how`, each after the client saw the previous one. */
  const ndjson =
    (gates: { wait: Promise<void> }[], how: (res: ServerResponse) => void) =>
    async (_req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('Content-Type', 'application/json')
      for (let i = 0; i < gates.length; i++) {
        res.write(`${JSON.stringify({ line: i })}\n`)
        how(res)
        await (gates[i] as { wait: Promise<void> }).wait
      }
      res.end()
    }

  const byFlush = (res: ServerResponse) => flush(res)
  const byResFlush = (res: ServerResponse) => (res as ServerResponse & { flush(): void }).flush()

  for (const [name, how] of [
    ['flush(res)', byFlush],
    ['res.flush()', byResFlush],
  ] as const) {
    for (const coding of ['gzip', 'br']) {
      it(`should send what was written so far on ${name} (${coding})`, async () => {
        const gates = [gate(), gate(), gate()]
        await withServer(compression(), ndjson(gates, how), async (server) => {
          const s = stream(server, coding)
          for (let i = 0; i < 3; i++) {
            await s.until(`{"line":${i}}\n`)
            gates[i]?.open()
          }
          await s.done
          expect(s.received.encoding).toBe(coding)
          expect(s.received.text).toBe('{"line":0}\n{"line":1}\n{"line":2}\n')
        })
      }, 5000)
    }
  }

  it('should do nothing when the response is not compressed or has no layer', async () => {
    const gates = [gate(), gate()]
    await withServer(compression(), ndjson(gates, byFlush), async (server) => {
      const s = stream(server, undefined)
      for (let i = 0; i < 2; i++) {
        await s.until(`{"line":${i}}\n`)
        gates[i]?.open()
      }
      await s.done
      expect(s.received.encoding).toBeUndefined()
    })
    expect(() => flush({} as ServerResponse)).not.toThrow()
  }, 5000)
})

describe('compression: large streams', () => {
  it('should compress a piped stream of several megabytes with backpressure', async () => {
    const piece = text(64 * 1024)
    const pieces = 128 // 8 MiB
    await withServer(
      compression(),
      (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        let i = 0
        Readable.from(
          (function* () {
            while (i++ < pieces) yield piece
          })()
        ).pipe(res)
      },
      async (server) => {
        for (const coding of ['gzip', 'br']) {
          const res = await get(server, coding)
          expect(res.headers['content-encoding']).toBe(coding)
          const body = decode(res)
          expect(body.length).toBe(piece.length * pieces)
          expect(body.slice(0, piece.length)).toBe(piece)
        }
      }
    )
  }, 20_000)
})
