import { close, read } from 'node:fs'
import { Readable } from 'node:stream'
import type { ByteRange } from './range.js'

/** Bytes read from the file per chunk. */
const CHUNK = 64 * 1024

/** A part of a response body: bytes already in memory, or a range of the file. */
export type Segment = Buffer | ByteRange

/**
 * Streams segments of an open file (and in-memory buffers between them, for
 * multipart/byteranges) with positional reads on one file descriptor. The descriptor is
 * owned by the stream: it is closed when the stream ends or is destroyed (client abort,
 * error), after any read in flight has completed, so a closed descriptor number is never
 * read again after the OS has reused it.
 */
export class FileStream extends Readable {
  private readonly fd: number
  private readonly segments: readonly Segment[]
  private index = 0
  private pos = -1
  private reading = false
  private closeWhenRead: ((err: Error | null) => void) | undefined

  constructor(fd: number, segments: readonly Segment[]) {
    super({ highWaterMark: CHUNK })
    this.fd = fd
    this.segments = segments
  }

  override _read(): void {
    if (this.reading) return
    const seg = this.segments[this.index]
    if (seg === undefined) {
      this.push(null)
      return
    }
    if (Buffer.isBuffer(seg)) {
      this.index++
      this.push(seg)
      return
    }
    if (this.pos === -1) this.pos = seg.start
    const n = Math.min(CHUNK, seg.end - this.pos + 1)
    const buf = Buffer.allocUnsafe(n)
    this.reading = true
    read(this.fd, buf, 0, n, this.pos, (err, bytes) => {
      this.reading = false
      const pendingClose = this.closeWhenRead
      if (pendingClose !== undefined) {
        this.closeWhenRead = undefined
        close(this.fd, () => pendingClose(null))
        return
      }
      if (this.destroyed) return
      if (err) {
        this.destroy(err)
        return
      }
      if (bytes === 0) {
        // The file is shorter than its length said: never send fewer bytes silently.
        this.destroy(new Error('[@shallot/static] the file was truncated while being sent'))
        return
      }
      this.pos += bytes
      if (this.pos > seg.end) {
        this.index++
        this.pos = -1
      }
      this.push(bytes === n ? buf : buf.subarray(0, bytes))
    })
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    if (this.reading) {
      this.closeWhenRead = () => callback(err)
      return
    }
    close(this.fd, () => callback(err))
  }
}

let counter = 0
const boundaryPrefix = Math.random().toString(36).slice(2, 10).padEnd(8, '0')

/** The parts of a multipart/byteranges body (RFC 9110 §14.6) and its exact length. */
export function multipart(
  type: string,
  size: number,
  ranges: readonly ByteRange[]
): { contentType: string; segments: Segment[]; length: number } {
  counter = (counter + 1) % 0x100000000
  const boundary = `shallot-${boundaryPrefix}${counter.toString(16).padStart(8, '0')}`
  const segments: Segment[] = []
  let length = 0
  ranges.forEach((r, i) => {
    const head = Buffer.from(
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`,
      'latin1'
    )
    segments.push(head, r)
    length += head.length + r.end - r.start + 1
  })
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1')
  segments.push(tail)
  length += tail.length
  return { contentType: `multipart/byteranges; boundary=${boundary}`, segments, length }
}
