import { close, constants, fstat, open, read } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream'
import { appendVary, getPath, type Handler, HttpError } from '@shallot/stack'
import { contentType } from 'mime-types'
import {
  evaluatePreconditions,
  ifRangeHolds,
  NOT_MODIFIED,
  PRECONDITION_FAILED,
  type Validators,
} from './conditional.js'
import { IDENTITY, NONE, negotiate } from './encoding.js'
import type { PrecompressedEncoding, Resolved } from './options.js'
import { type ByteRange, IGNORE, parseRange, UNSATISFIABLE } from './range.js'
import { FileStream, multipart, type Segment } from './stream.js'
import { type Entry, type FileEntry, type FileIndex, sameFile, UNKNOWN } from './tree.js'

/** One representation of a file: the file itself or a precompressed sibling. */
interface Rep extends Validators {
  /** The file whose bytes are sent. */
  file: FileEntry
  type: string
  size: number
  /** Headers of a 200: Content-Type, Content-Length and `meta`. */
  head200: string[]
  /** Headers of a 304. */
  head304: string[]
  /** Headers every answer with a body carries: validators, Cache-Control, Accept-Ranges, Content-Encoding, nosniff. */
  meta: string[]
}

/** What is precomputed for a file: its representations. Kept on the entry (`entry.view`). */
interface View {
  identity: Rep
  encoded: Rep[]
  /** HTTP names of the codings of `encoded`, in server preference order. */
  codings: string[]
  /** The precompressed siblings looked up, one per configured coding (null: none). */
  siblings: (FileEntry | null)[]
}

const CODINGS: Readonly<Record<PrecompressedEncoding, { suffix: string; tag: string }>> = {
  br: { suffix: '.br', tag: 'br' },
  zstd: { suffix: '.zst', tag: 'zst' },
  gzip: { suffix: '.gz', tag: 'gz' },
}

/** A directory asked for without its trailing slash. */
const REDIRECT = 1
type Found = FileEntry | typeof REDIRECT | null

const REDIRECT_BODY = 'Moved Permanently\n'
const REDIRECT_LENGTH = String(Buffer.byteLength(REDIRECT_BODY))

const types = new Map<string, string>()

/** Content-Type of a file name, with charset=utf-8 for text types; octet-stream when unknown. */
export function typeOf(name: string): string {
  const slash = name.lastIndexOf('/')
  const dot = name.lastIndexOf('.')
  const ext = dot > slash + 1 ? name.slice(dot + 1).toLowerCase() : ''
  let type = types.get(ext)
  if (type === undefined) {
    type = (ext !== '' && contentType(ext)) || 'application/octet-stream'
    if (types.size < 1000) types.set(ext, type)
  }
  return type
}

/**
 * Checks the request path (relative to the prefix). The stack has refused most of this
 * already; the layer checks again so that nothing depends on it. 0: fine; 400: refused;
 * 404: cannot name a file (too long).
 */
export function checkPath(rel: string): number {
  if (rel.length > 4096) return 404
  if (rel.includes('\0') || rel.includes('\\')) return 400
  if (process.platform === 'win32' && rel.includes(':')) return 400
  // A drive letter (`/C:/…`) is refused on every platform.
  if (/^\/[A-Za-z]:/.test(rel)) return 400
  let start = 1
  while (start <= rel.length) {
    let end = rel.indexOf('/', start)
    if (end === -1) end = rel.length
    const seg = rel.slice(start, end)
    if (seg === '.' || seg === '..') return 400
    if (seg === '' && end !== rel.length) return 400
    if (seg.length > 255) return 404
    start = end + 1
  }
  return 0
}

/** Whether a path has a segment starting with a dot, `.well-known` aside. */
function hasDotSegment(rel: string): boolean {
  let i = rel.indexOf('/.')
  while (i !== -1) {
    if (!rel.startsWith('/.well-known', i) || (rel.length > i + 12 && rel[i + 12] !== '/')) {
      return true
    }
    i = rel.indexOf('/.', i + 2)
  }
  return false
}

/** Builds the request handler of the layer. */
export function createHandler(o: Resolved, index: FileIndex, next: Handler): Handler {
  const { prefix } = o
  const encodings = o.precompressed

  // --- resolution --------------------------------------------------------------------------

  /**
   * What the path maps to, as a generator of the keys it needs: the caller answers each key
   * with its entry, from the index alone (sync) or from the file system (async).
   */
  function* resolve(rel: string): Generator<string, Found, Entry | null> {
    if (rel === '' || rel.endsWith('/')) {
      const dir = rel === '' ? '' : rel.slice(1)
      for (const name of o.index) {
        const e = yield dir + name
        if (e !== null && e.kind === 'file') return rel === '' ? (o.redirect ? REDIRECT : null) : e
      }
      return null
    }
    const key = rel.slice(1)
    const e = yield key
    if (e !== null && e.kind === 'file') return e
    if (e !== null && e.kind === 'dir' && o.redirect) {
      for (const name of o.index) {
        const i = yield `${key}/${name}`
        if (i !== null && i.kind === 'file') return REDIRECT
      }
    }
    for (const ext of o.extensions) {
      const x = yield `${key}.${ext}`
      if (x !== null && x.kind === 'file') return x
    }
    return null
  }

  /** Resolves from the index alone; undefined when a key needs the file system. */
  function resolveSync(rel: string): Found | undefined {
    const gen = resolve(rel)
    let step = gen.next()
    while (step.done !== true) {
      const e = index.peek(step.value)
      if (e === UNKNOWN) return undefined
      step = gen.next(e)
    }
    return step.value
  }

  async function resolveAsync(rel: string): Promise<Found> {
    const gen = resolve(rel)
    let step = gen.next()
    while (step.done !== true) step = gen.next(await index.lookup(step.value))
    return step.value
  }

  // --- per-file views ---------------------------------------------------------------------

  function buildRep(
    base: FileEntry,
    file: FileEntry,
    coding: PrecompressedEncoding | undefined
  ): Rep {
    const st = file.stat
    const size = st.size
    // Node's Stats#mtime (which send and serve-static use) is `new Date(Math.round(mtimeMs))`.
    const mtimeMs = Math.round(st.mtimeMs)
    const mtimeSec = Math.floor(mtimeMs / 1000) * 1000
    let etag: string | undefined
    let opaque: string | undefined
    const weak = o.etag === 'weak'
    if (o.etag !== false) {
      const time = weak ? mtimeMs : Math.round(st.mtimeMs * 1000)
      const suffix = coding === undefined ? '' : `-${CODINGS[coding].tag}`
      opaque = `"${size.toString(16)}-${time.toString(16)}${suffix}"`
      etag = weak ? `W/${opaque}` : opaque
    }
    const lastModified = o.lastModified ? new Date(mtimeSec).toUTCString() : undefined
    const cacheControl = o.cacheControl(`/${base.key}`)
    const validators: string[] = []
    if (etag !== undefined) validators.push('ETag', etag)
    if (lastModified !== undefined) validators.push('Last-Modified', lastModified)
    if (cacheControl !== false) validators.push('Cache-Control', cacheControl)
    const meta = validators.slice()
    if (o.acceptRanges) meta.push('Accept-Ranges', 'bytes')
    if (coding !== undefined) meta.push('Content-Encoding', coding)
    meta.push('X-Content-Type-Options', 'nosniff')
    const type = typeOf(base.key)
    return {
      file,
      type,
      size,
      etag,
      opaque,
      weak,
      lastModified,
      mtimeSec,
      head200: ['Content-Type', type, 'Content-Length', String(size), ...meta],
      head304: [...validators, 'X-Content-Type-Options', 'nosniff'],
      meta,
    }
  }

  function buildView(base: FileEntry, siblings: (FileEntry | null)[]): View {
    const encoded: Rep[] = []
    const codings: string[] = []
    siblings.forEach((s, i) => {
      if (s === null) return
      const coding = encodings[i] as PrecompressedEncoding
      encoded.push(buildRep(base, s, coding))
      codings.push(coding)
    })
    const view: View = { identity: buildRep(base, base, undefined), encoded, codings, siblings }
    base.view = view
    return view
  }

  function asFile(e: Entry | null): FileEntry | null {
    return e !== null && e.kind === 'file' ? e : null
  }

  function sameSiblings(view: View, siblings: (FileEntry | null)[]): boolean {
    for (let i = 0; i < siblings.length; i++) if (view.siblings[i] !== siblings[i]) return false
    return true
  }

  function getView(base: FileEntry): View | Promise<View> {
    const cached = base.view as View | undefined
    if (encodings.length === 0) return cached ?? buildView(base, [])
    if (cached !== undefined && !base.live && index.watching) return cached
    const keys = encodings.map((c) => base.key + CODINGS[c].suffix)
    const known: (FileEntry | null)[] = []
    for (const key of keys) {
      const e = index.peek(key)
      if (e === UNKNOWN) {
        return Promise.all(keys.map((k) => index.lookup(k))).then((found) => {
          const siblings = found.map(asFile)
          const current = base.view as View | undefined
          return current !== undefined && sameSiblings(current, siblings)
            ? current
            : buildView(base, siblings)
        })
      }
      known.push(asFile(e))
    }
    return cached !== undefined && sameSiblings(cached, known) ? cached : buildView(base, known)
  }

  // --- writing ----------------------------------------------------------------------------

  const { setHeaders } = o
  /** Reads in flight, so that concurrent first requests for a file read it once. */
  const loading = new Map<FileEntry, Promise<Buffer>>()

  function writeHead(res: ServerResponse, status: number, headers: string[], view: View): void {
    if (setHeaders === undefined) {
      res.writeHead(status, headers)
      return
    }
    for (let i = 0; i < headers.length; i += 2) {
      res.setHeader(headers[i] as string, headers[i + 1] as string)
    }
    setHeaders(res, view.identity.file.abs, view.identity.file.stat)
    res.writeHead(status)
  }

  function partialHead(rep: Rep, type: string, length: number, range?: ByteRange): string[] {
    const head = ['Content-Type', type, 'Content-Length', String(length)]
    if (range !== undefined) {
      head.push('Content-Range', `bytes ${range.start}-${range.end}/${rep.size}`)
    }
    return head.concat(rep.meta)
  }

  /** Sends the whole body or the ranges from memory. */
  function sendBuffer(
    res: ServerResponse,
    view: View,
    rep: Rep,
    body: Buffer,
    ranges: ByteRange[] | undefined
  ): void {
    if (ranges === undefined) {
      writeHead(res, 200, rep.head200, view)
      res.end(body)
      return
    }
    if (ranges.length === 1) {
      const r = ranges[0] as ByteRange
      writeHead(res, 206, partialHead(rep, rep.type, r.end - r.start + 1, r), view)
      res.end(body.subarray(r.start, r.end + 1))
      return
    }
    const m = multipart(rep.type, rep.size, ranges)
    const parts = m.segments.map((s) =>
      Buffer.isBuffer(s) ? s : body.subarray(s.start, s.end + 1)
    )
    writeHead(res, 206, partialHead(rep, m.contentType, m.length), view)
    res.end(Buffer.concat(parts, m.length))
  }

  /** The file changed or vanished between the lookup and the open. */
  class Changed extends Error {}

  /** Opens the file and checks that it is still the version the headers describe. */
  function openChecked(view: View, rep: Rep): Promise<number> {
    const file = rep.file
    // Without links on the way at admission, a link put in place since is not followed.
    const flags = constants.O_RDONLY | noFollow(file)
    return new Promise((resolve, reject) => {
      open(file.abs, flags, (err, fd) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code
          if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') {
            forgetView(view, rep)
            reject(new Changed())
          } else if (code === 'EACCES' || code === 'EPERM') {
            reject(new HttpError(403, 'Forbidden', { cause: err }))
          } else {
            reject(new HttpError(500, 'Internal Server Error', { cause: err }))
          }
          return
        }
        fstat(fd, (err2, st) => {
          if (err2 || !sameFile(st, file.stat)) {
            close(fd, () => {})
            forgetView(view, rep)
            reject(
              err2 ? new HttpError(500, 'Internal Server Error', { cause: err2 }) : new Changed()
            )
            return
          }
          resolve(fd)
        })
      })
    })
  }

  function forgetView(view: View, rep: Rep): void {
    index.forget(rep.file)
    index.forget(view.identity.file)
  }

  /** Reads a small file whole (once for concurrent requests), keeps it in the memory cache. */
  function loadBody(view: View, rep: Rep): Promise<Buffer> {
    const file = rep.file
    let pending = loading.get(file)
    if (pending === undefined) {
      pending = openChecked(view, rep)
        .then((fd) =>
          readAll(fd, rep.size).finally(() => {
            close(fd, () => {})
          })
        )
        .then((body) => {
          index.keepBody(file, body)
          return body
        })
        .finally(() => loading.delete(file))
      loading.set(file, pending)
    }
    return pending
  }

  /** Reads a small file whole, keeps it in the memory cache, sends it. */
  async function loadAndSend(
    res: ServerResponse,
    view: View,
    rep: Rep,
    ranges: ByteRange[] | undefined
  ): Promise<void> {
    const body = await loadBody(view, rep)
    if (res.destroyed) return
    sendBuffer(res, view, rep, body, ranges)
  }

  /** Streams the whole file or its ranges from disk. */
  async function streamFile(
    res: ServerResponse,
    view: View,
    rep: Rep,
    ranges: ByteRange[] | undefined
  ): Promise<void> {
    const fd = await openChecked(view, rep)
    if (res.destroyed) {
      close(fd, () => {})
      return
    }
    let segments: Segment[]
    if (ranges === undefined) {
      segments = [{ start: 0, end: rep.size - 1 }]
      writeHead(res, 200, rep.head200, view)
    } else if (ranges.length === 1) {
      const r = ranges[0] as ByteRange
      segments = [r]
      writeHead(res, 206, partialHead(rep, rep.type, r.end - r.start + 1, r), view)
    } else {
      const m = multipart(rep.type, rep.size, ranges)
      segments = m.segments
      writeHead(res, 206, partialHead(rep, m.contentType, m.length), view)
    }
    pipeline(new FileStream(fd, segments), res, (err) => {
      // A client that went away is the common case; anything else cuts the response short.
      if (err && !res.destroyed) res.destroy()
    })
  }

  function sendRep(
    req: IncomingMessage,
    res: ServerResponse,
    view: View,
    spa: boolean,
    retry: boolean
  ): void | Promise<void> {
    let rep = view.identity
    if (view.encoded.length > 0) {
      const i = negotiate(req.headers['accept-encoding'], view.codings)
      appendVary(res, 'Accept-Encoding')
      if (i === NONE) throw new HttpError(406, 'Not Acceptable')
      if (i !== IDENTITY) rep = view.encoded[i] as Rep
    }
    if (spa) appendVary(res, 'Accept')
    const h = req.headers
    if (
      h['if-none-match'] !== undefined ||
      h['if-modified-since'] !== undefined ||
      h['if-match'] !== undefined ||
      h['if-unmodified-since'] !== undefined
    ) {
      const outcome = evaluatePreconditions(h, rep)
      if (outcome === PRECONDITION_FAILED) throw new HttpError(412, 'Precondition Failed')
      if (outcome === NOT_MODIFIED) {
        writeHead(res, 304, rep.head304, view)
        res.end()
        return
      }
    }
    if (req.method === 'HEAD' || rep.size === 0) {
      writeHead(res, 200, rep.head200, view)
      res.end()
      return
    }
    let ranges: ByteRange[] | undefined
    const range = h.range
    if (range !== undefined && o.acceptRanges) {
      const ifRange = h['if-range']
      // Several If-Range fields make no sense: then the Range is not honoured.
      if (ifRange === undefined || (typeof ifRange === 'string' && ifRangeHolds(ifRange, rep))) {
        const r = parseRange(range, rep.size, o.maxRanges)
        if (r === UNSATISFIABLE) {
          throw new HttpError(416, 'Range Not Satisfiable', {
            headers: { 'Content-Range': `bytes */${rep.size}` },
          })
        }
        if (r !== IGNORE) ranges = r
      }
    }
    const file = rep.file
    if (file.body !== undefined) {
      file.used = true
      sendBuffer(res, view, rep, file.body, ranges)
      return
    }
    const sending =
      rep.size <= o.maxFileSize
        ? loadAndSend(res, view, rep, ranges)
        : streamFile(res, view, rep, ranges)
    return sending.catch((err: unknown) => {
      if (!(err instanceof Changed)) throw err
      if (retry) {
        throw new HttpError(503, 'Service Unavailable', { headers: { 'Retry-After': '1' } })
      }
      // The file changed under us: decide again, once, from a fresh look at the disk.
      return handle(req, res, true)
    })
  }

  function serveFile(
    req: IncomingMessage,
    res: ServerResponse,
    entry: FileEntry,
    spa: boolean,
    retry: boolean
  ): void | Promise<void> {
    const view = getView(entry)
    if (view instanceof Promise) return view.then((v) => sendRep(req, res, v, spa, retry))
    return sendRep(req, res, view, spa, retry)
  }

  function redirect(req: IncomingMessage, res: ServerResponse, rel: string): void {
    const path = rel === '' ? prefix : rel
    const segment = path.slice(path.lastIndexOf('/') + 1)
    // Relative, from the last segment only: `./docs/` cannot name another host, and the
    // `./` keeps a segment with a colon from reading as a scheme.
    let location = `./${encodeSegment(segment)}/`
    const url = req.url ?? ''
    const q = url.indexOf('?')
    if (q !== -1 && /^[\x21-\x7e]*$/.test(url.slice(q))) location += url.slice(q)
    res.writeHead(301, [
      'Location',
      location,
      'Content-Type',
      'text/plain; charset=utf-8',
      'Content-Length',
      REDIRECT_LENGTH,
      'Content-Security-Policy',
      "default-src 'none'",
      'X-Content-Type-Options',
      'nosniff',
    ])
    res.end(req.method === 'HEAD' ? undefined : REDIRECT_BODY)
  }

  function wantsSpa(req: IncomingMessage, rel: string): boolean {
    if (o.spa === undefined) return false
    const accept = req.headers.accept
    if (accept === undefined || !accept.includes('text/html')) return false
    return !rel.slice(rel.lastIndexOf('/') + 1).includes('.')
  }

  function miss(
    req: IncomingMessage,
    res: ServerResponse,
    rel: string,
    retry: boolean
  ): void | Promise<void> {
    if (wantsSpa(req, rel)) {
      const found = index.lookup(o.spa as string)
      const serve = (e: Entry | null): void | Promise<void> =>
        e !== null && e.kind === 'file'
          ? serveFile(req, res, e, true, retry)
          : fallthrough(req, res)
      return found instanceof Promise ? found.then(serve) : serve(found)
    }
    return fallthrough(req, res)
  }

  function fallthrough(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    if (o.fallthrough) return next(req, res)
    throw new HttpError(404, 'Not Found')
  }

  function act(
    req: IncomingMessage,
    res: ServerResponse,
    rel: string,
    found: Found,
    retry: boolean
  ): void | Promise<void> {
    if (found === null) return miss(req, res, rel, retry)
    if (found === REDIRECT) return redirect(req, res, rel)
    return serveFile(req, res, found, false, retry)
  }

  function handle(req: IncomingMessage, res: ServerResponse, retry: boolean): void | Promise<void> {
    const path = getPath(req)
    let rel = path
    if (prefix !== '') {
      if (
        !path.startsWith(prefix) ||
        (path.length !== prefix.length && path.charCodeAt(prefix.length) !== 0x2f)
      ) {
        return next(req, res)
      }
      rel = path.slice(prefix.length)
    } else if (path.charCodeAt(0) !== 0x2f) {
      // `*` (OPTIONS *): not a path of a file.
      return next(req, res)
    }
    const method = req.method
    if (method !== 'GET' && method !== 'HEAD') {
      if (o.fallthrough) return next(req, res)
      throw new HttpError(405, 'Method Not Allowed', { headers: { Allow: 'GET, HEAD' } })
    }
    // The common case first: a file of the index, by its exact path.
    if (rel.length > 1 && rel.charCodeAt(rel.length - 1) !== 0x2f) {
      const e = index.peek(rel.slice(1))
      if (e !== UNKNOWN && e !== null && e.kind === 'file' && checkPath(rel) === 0) {
        if (o.dotfiles === 'allow' || !hasDotSegment(rel))
          return serveFile(req, res, e, false, retry)
      }
    }
    const check = checkPath(rel)
    if (check === 400) throw new HttpError(400, 'Bad Request')
    if (check === 404) return fallthrough(req, res)
    if (o.dotfiles !== 'allow' && hasDotSegment(rel)) {
      if (o.dotfiles === 'deny') throw new HttpError(403, 'Forbidden')
      return fallthrough(req, res)
    }
    const found = resolveSync(rel)
    if (found !== undefined) return act(req, res, rel, found, retry)
    return resolveAsync(rel).then((f) => act(req, res, rel, f, retry))
  }

  return function serveStatic(req, res) {
    return handle(req, res, false)
  }
}

/** Percent-encodes a path segment, leaving the sub-delims, `:` and `@` raw (RFC 3986 pchar). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(24|26|2B|2C|3B|3D|3A|40)/g, (_m, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16))
  )
}

/** O_NOFOLLOW for a file admitted without a link on its path (0 where the OS has none). */
function noFollow(file: FileEntry): number {
  return file.linked ? 0 : (constants.O_NOFOLLOW ?? 0)
}

/** Reads exactly `size` bytes from the start of `fd`. */
function readAll(fd: number, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size)
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      read(fd, buf, offset, size - offset, offset, (err, bytes) => {
        if (err) return reject(new HttpError(500, 'Internal Server Error', { cause: err }))
        if (bytes === 0) {
          return reject(
            new HttpError(503, 'Service Unavailable', { headers: { 'Retry-After': '1' } })
          )
        }
        if (offset + bytes === size) return resolve(buf)
        step(offset + bytes)
      })
    }
    step(0)
  })
}
