/*
 * TEMPORARY: a deliberately small file handler for the demo's public/ folder.
 * @shallot/static will replace it (MIME types, ETag/Last-Modified, conditional and range
 * requests, precompressed variants). Until then this does the minimum, safely:
 *
 *  - it decides on `getPath(req)`, the stack's canonical decoded path: `..` segments are
 *    already resolved, and encoded slashes, backslashes, NUL and paths climbing above the
 *    root were refused with a 400 before any layer ran;
 *  - it still checks that the file lies inside the folder (after resolving symlinks), and
 *    refuses dotfiles and directories;
 *  - it serves only the extensions listed in TYPES (an allowlist: a stray backup or config
 *    file dropped into public/ is a 404, not a download);
 *  - GET and HEAD only (405 otherwise); no caching headers, no ranges.
 */

import { realpathSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { open, realpath } from 'node:fs/promises'
import { extname, join, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { getBasePath, getPath, type Handler, HttpError } from '@shallot/stack'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
}

/** Errors from `open` that mean "no such file here", answered with a 404. */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP'])

/**
 * A handler serving the files of `dir`, meant to end a `mount('/public', ...)`: the path it
 * sees is the part after the mount prefix.
 */
export function publicFiles(dir: string | URL): Handler {
  // Start-up: a missing folder is a configuration error, reported now, not per request.
  const root = realpathSync(typeof dir === 'string' ? dir : fileURLToPath(dir))

  return async function publicFiles(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, `${req.method} is not allowed here`, {
        headers: { Allow: 'GET, HEAD' },
      })
    }
    const path = getPath(req) // e.g. '/style.css' for GET /public/style.css
    const notFound = () => new HttpError(404, `Cannot ${req.method} ${getBasePath(req)}${path}`)
    const segments = path.split('/').slice(1)
    // No directory listings ('/', '/dir/'), no dotfiles ('/.env', '/.git/config').
    if (segments.some((s) => s === '' || s.startsWith('.'))) throw notFound()
    const type = TYPES[extname(path).toLowerCase()]
    if (type === undefined) throw notFound()

    const file = join(root, ...segments)
    let handle: FileHandle
    try {
      // A symlink inside public/ must not lead outside it.
      if (!(await realpath(file)).startsWith(root + sep)) throw notFound()
      handle = await open(file, 'r')
    } catch (err) {
      if (MISSING.has((err as NodeJS.ErrnoException).code ?? '')) throw notFound()
      throw err
    }

    let streaming = false
    try {
      const stat = await handle.stat()
      if (!stat.isFile()) throw notFound()
      res.statusCode = 200
      res.setHeader('Content-Type', type)
      res.setHeader('Content-Length', stat.size)
      res.setHeader('X-Content-Type-Options', 'nosniff')
      if (req.method === 'HEAD' || stat.size === 0) {
        res.end()
        return
      }
      // The stream closes the handle when it ends or fails. Reading exactly `size` bytes
      // keeps Content-Length true even if the file grows meanwhile.
      const stream = handle.createReadStream({ start: 0, end: stat.size - 1 })
      streaming = true
      await pipeline(stream, res).catch((err: NodeJS.ErrnoException) => {
        // The client went away: nothing to answer and nothing to report.
        if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err
      })
    } finally {
      if (!streaming) await handle.close()
    }
  }
}
