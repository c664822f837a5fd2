// The files every static-* scenario serves, the same for every contender.
//
// `ensureStaticFixtures()` creates (or repairs) `<os.tmpdir()>/shallot-bench-static/` with:
//   1k.txt     1024 bytes of text      -> GET /1k.txt
//   256k.bin   262144 bytes            -> GET /256k.bin (and, with Range: bytes=0-1023, its
//                                         first KiB: the static-range scenario)
// Contents are deterministic, and both files get the same fixed modification time, so every
// server computes the same Last-Modified; the 304 scenario sends `If-Modified-Since` with it
// (each server builds its own ETag, so If-None-Match could not be shared).
//
// Run it directly (`node bench/servers/static-fixtures.mjs`) to create the files and print
// the directory: static-nginx.sh does that before it starts nginx.
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The directory every static-* server serves at `/`. */
export const STATIC_DIR = join(tmpdir(), 'shallot-bench-static')

/** The modification time of every fixture file (whole seconds). */
export const STATIC_MTIME = new Date('2024-01-01T00:00:00.000Z')

/** The Last-Modified every server sends for the fixtures, for the 304 scenario. */
export const STATIC_LAST_MODIFIED = STATIC_MTIME.toUTCString()

/** Name -> contents. */
const FILES = {
  '1k.txt': Buffer.from(
    Array.from(
      { length: 16 },
      (_, i) => `line ${String(i).padStart(2, '0')} ${'x'.repeat(55)}\n`
    ).join(''),
    'latin1'
  ),
  '256k.bin': Buffer.from(Array.from({ length: 262_144 }, (_, i) => (i * 7 + 3) % 251)),
}

/** Creates the directory and the files if missing or different, and sets their mtime. */
export function ensureStaticFixtures() {
  mkdirSync(STATIC_DIR, { recursive: true })
  for (const [name, contents] of Object.entries(FILES)) {
    const file = join(STATIC_DIR, name)
    let same = false
    try {
      same = statSync(file).size === contents.length && readFileSync(file).equals(contents)
    } catch {
      same = false
    }
    if (!same) writeFileSync(file, contents)
    const st = statSync(file)
    if (st.mtimeMs !== STATIC_MTIME.getTime()) utimesSync(file, STATIC_MTIME, STATIC_MTIME)
  }
  return STATIC_DIR
}

/** The measured requests, for the harness (method GET). */
export const staticRequests = {
  /** 1 KiB text file, 200. */
  small: { method: 'GET', path: '/1k.txt' },
  /** 256 KiB binary file, 200. */
  large: { method: 'GET', path: '/256k.bin' },
  /** The first KiB of the 256 KiB file: one byte range, answered 206 Partial Content. */
  range: { method: 'GET', path: '/256k.bin', headers: { range: 'bytes=0-1023' } },
  /** The 1 KiB file again, answered 304 Not Modified. */
  notModified: {
    method: 'GET',
    path: '/1k.txt',
    headers: { 'if-modified-since': STATIC_LAST_MODIFIED },
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${ensureStaticFixtures()}\n`)
}
