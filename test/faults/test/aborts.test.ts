/**
 * Thousands of clients that go away mid-upload and mid-download, against the demo app
 * (createApp, with a JSON access log and a public folder holding large files) and, for
 * uploads that the server reads, an upload handler inside the demo's layers (the demo has
 * none): descriptors, sockets and heap return to their starting level, and every aborted
 * exchange is logged exactly once, as aborted.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '@shallot/example-demo/dist/app.js'
import { logging } from '@shallot/logging'
import { delay, failOnUnhandledRejections, type Listening, listen } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connections,
  demoLayers,
  exchange,
  heapAfterGc,
  JsonLog,
  KEY,
  type LogLine,
  openFds,
  quietFds,
  settle,
} from './helpers.js'

failOnUnhandledRejections()

/** Aborting clients in all (FAULTS_ABORTS, or 20,000 with FAULTS_FULL=1). */
const ABORTS = Number(process.env.FAULTS_ABORTS ?? (process.env.FAULTS_FULL ? 20_000 : 2_000))
/** How many are in flight at once. */
const CONCURRENCY = 50
/**
 * How long /api/slow keeps an upload's request open: the longest it accepts, so that the
 * server, however busy, reads the client's close before its answer is due.
 */
const SLOW_MS = 5000
/** Large enough that no response fits in the sockets' buffers (16 MiB). */
const BIG = 16 * 1024 * 1024
/** Aborts before the starting level is measured. */
const WARM_UP = 1000
/** Heap after the aborts may exceed the heap before them by this much, at most. */
const HEAP_SLACK = 0.1

const log = new JsonLog()
let dir: string
let server: Listening

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shallot-aborts-'))
  // above the static layer's memory cache limit (256 KiB): streamed from disk, one
  // descriptor per request; big.txt is compressible, so compression streams it through gzip
  writeFileSync(join(dir, 'big.bin'), randomBytes(BIG))
  const words = Array.from({ length: 4096 }, () => randomBytes(6).toString('base64url'))
  let text = ''
  while (text.length < BIG) text += `${words[text.length % 4093]} `
  writeFileSync(join(dir, 'big.txt'), text)
  writeFileSync(join(dir, 'hello.txt'), 'hello\n')
  const app = createApp({
    accessLog: logging({ format: 'json', sink: log.sink }),
    publicDir: `${dir}/`,
  })
  // reads the whole body, then answers (what an upload endpoint does)
  const uploads = demoLayers(
    async (req, res) => {
      let size = 0
      for await (const chunk of req) size += (chunk as Buffer).length
      res.end(`got ${size} bytes`)
    },
    logging({ format: 'json', sink: log.sink })
  )
  server = await listen((req, res) =>
    req.url?.startsWith('/upload') ? uploads(req, res) : app(req, res)
  )
})

afterAll(async () => {
  await server?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

type Kind = 'upload' | 'read' | 'download' | 'gzip'

/** Opens a connection and sends `head`. */
async function connect(head: string): Promise<Socket> {
  const socket = createConnection({ port: server.port, host: '127.0.0.1' })
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(head)
  return socket
}

/**
 * One client that goes away:
 * - upload: declares a 1 MiB body for the demo's /api/slow, waits for `100 Continue` (the
 *   handler is running then), sends 4 KiB of it, and closes. The handler does not read the
 *   body: Node still reads the socket (and sees the close) while the body it buffers for the
 *   request is under its 16 KiB high-water mark. (With more unread bytes, Node stops reading
 *   and sees the close only when the answer is written: see test/README.md.)
 * - read: the same with 256 KiB of the body, to a handler that reads it;
 * - download / gzip: asks for a 16 MiB file (gzip: compressed on the fly) and closes at the
 *   first bytes of the response.
 */
async function abort(kind: Kind, id: string): Promise<void> {
  const common = `Host: 127.0.0.1\r\nX-Request-Id: ${id}\r\n`
  let socket: Socket
  if (kind === 'upload' || kind === 'read') {
    const target = kind === 'upload' ? `/api/slow?ms=${SLOW_MS}` : '/upload'
    socket = await connect(
      `POST ${target} HTTP/1.1\r\n${common}X-API-Key: ${KEY}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`
    )
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    expect(chunk.toString('latin1')).toMatch(/^HTTP\/1\.1 100 Continue\r\n/)
    const part = Buffer.alloc(kind === 'upload' ? 4 * 1024 : 256 * 1024, 120)
    await new Promise<void>((resolve) => socket.write(part, () => resolve()))
  } else {
    const path = kind === 'download' ? '/static/big.bin' : '/static/big.txt'
    const encoding = kind === 'gzip' ? 'Accept-Encoding: gzip\r\n' : ''
    socket = await connect(`GET ${path} HTTP/1.1\r\n${common}${encoding}\r\n`)
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    expect(chunk.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
  }
  const closed = once(socket, 'close')
  socket.destroy()
  await closed
}

const KINDS: Kind[] = ['upload', 'read', 'download', 'gzip']

/** `count` aborts, `CONCURRENCY` at a time, kinds in turn; returns the ids by kind. */
async function run(count: number, prefix: string): Promise<Map<string, Kind>> {
  const ids = new Map<string, Kind>()
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const kind = KINDS[i % KINDS.length] as Kind
      const id = `${prefix}-${kind}-${i}`
      ids.set(id, kind)
      await abort(kind, id)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return ids
}

/** Settles: no connection left, `fds` descriptors, every id logged, the slow handlers done. */
async function quiet(fds: number | undefined, ids: Map<string, Kind>): Promise<void> {
  await settle(async () => {
    expect(await connections(server.server)).toBe(0)
    if (fds !== undefined) expect(openFds()).toBe(fds)
    for (const id of ids.keys()) expect(log.of(id).length).toBeGreaterThan(0)
  }, 30_000)
  // the aborted uploads' handlers are still sleeping: let them end
  await delay(SLOW_MS + 100)
}

interface Stats {
  requests: { total: number; aborted: number; active: number }
}
async function stats(): Promise<Stats> {
  return JSON.parse((await exchange(server.url, { path: '/stats' })).body) as Stats
}

describe(`${ABORTS} clients aborting mid-upload and mid-download`, () => {
  it('leave descriptors, sockets and heap at their starting level, each logged once as aborted', async () => {
    // Warm-up: every code path is loaded, and compiled by V8 (compiled code is most of what
    // the heap gains over the first thousands of requests).
    const warm = await run(WARM_UP, 'warm')
    await quiet(undefined, warm)
    warm.clear()
    log.lines = []
    const fds = await quietFds(server.server)
    const heapBefore = heapAfterGc()
    const before = await stats()

    const ids = await run(ABORTS, 'abort')
    await quiet(fds, ids)

    // one line per exchange, every one of them aborted
    const byId = new Map<string, LogLine[]>()
    for (const line of log.lines) {
      const id = line.requestId as string
      if (ids.has(id)) byId.set(id, [...(byId.get(id) ?? []), line])
      // nothing else was logged meanwhile, but the /stats request
      else expect(line.url).toBe('/stats')
    }
    expect(byId.size).toBe(ABORTS)
    const wrong: string[] = []
    for (const [id, kind] of ids) {
      const lines = byId.get(id) ?? []
      const line = lines[0]
      const expected = kind === 'upload' || kind === 'read' ? null : 200
      if (lines.length !== 1 || line?.aborted !== true || line.status !== expected) {
        wrong.push(`${id}: ${JSON.stringify(lines)}`)
      }
    }
    expect(wrong).toEqual([])

    // the demo's metrics saw every one of its own end (the upload handler's stack has its own)
    const after = await stats()
    expect(after.requests.active).toBe(0)
    const demo = [...ids.values()].filter((kind) => kind !== 'read').length
    expect(after.requests.aborted - before.requests.aborted).toBe(demo)

    // back to the starting level (once the /stats connection is closed too)
    await settle(async () => {
      expect(await connections(server.server)).toBe(0)
      expect(openFds()).toBe(fds)
    })
    // what this test holds is dropped before measuring
    log.lines = []
    byId.clear()
    ids.clear()
    const heapAfter = heapAfterGc()
    console.log(
      `aborts: ${ABORTS}; heap before ${(heapBefore / 2 ** 20).toFixed(1)} MiB, after ${(heapAfter / 2 ** 20).toFixed(1)} MiB; fds ${fds}`
    )
    expect(heapAfter).toBeLessThanOrEqual(heapBefore * (1 + HEAP_SLACK))
  })
})
