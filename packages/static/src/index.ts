/**
 * @shallot/static: files from a directory for Node request listeners: MIME types, ETag and
 * Last-Modified, conditional and range requests (RFC 9110), precompressed variants, an index
 * kept fresh by a file watcher, and no way out of the root.
 *
 * @module
 */
import { realpathSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Handler, Middleware } from '@shallot/stack'
import { resolveOptions, type ServeStaticOptions } from './options.js'
import { createHandler } from './serve.js'
import { FileIndex } from './tree.js'

export type { PrecompressedEncoding, ServeStaticOptions } from './options.js'

/** The layer `serveStatic()` returns: a Middleware that can also stop its file watcher. */
export interface StaticMiddleware extends Middleware {
  /**
   * Stops the file watcher and empties the index and the memory cache. The layer keeps
   * serving, checking each file with `fs.stat` (as with `watch: false`). The watcher does not
   * keep the process alive: this is only needed to release it early (tests, hot reload).
   */
  close(): void
}

/**
 * Serves the files of `root`: `GET` and `HEAD` only, with `Content-Type` from mime-types,
 * `ETag`/`Last-Modified`, `304`/`412` by the RFC 9110 rules, byte ranges (multipart
 * included), precompressed siblings, and `X-Content-Type-Options: nosniff`. The request
 * path is the stack's canonical one (`getPath`), and a request can only ever reach a file
 * of the index, which holds only files inside `root` (after resolving links as `symlinks`
 * says) and no dotfiles unless allowed. A miss goes to the next handler (see `fallthrough`).
 *
 * `root` must exist and be a directory, else the call throws (at start-up). The tree is
 * indexed then (synchronously, up to `maxEntries`).
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/static#readme
 * @example
 * ```ts
 * const app = stack(serveStatic('./public', { prefix: '/static', maxAge: '1h' }))(handler)
 * ```
 */
export function serveStatic(root: string | URL, options?: ServeStaticOptions): StaticMiddleware {
  const o = resolveOptions(options)
  if (root instanceof URL) {
    if (root.protocol !== 'file:') {
      throw new TypeError(`[@shallot/static] root must be a path or a file: URL, got ${root.href}`)
    }
    root = fileURLToPath(root)
  }
  if (typeof root !== 'string' || root === '') {
    throw new TypeError(
      `[@shallot/static] root must be a path to a directory, got ${root === '' ? 'an empty string' : typeof root}`
    )
  }
  let real: string
  try {
    real = realpathSync.native(resolve(root))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new TypeError(
      `[@shallot/static] root ${JSON.stringify(root)} ${code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code})`}`,
      { cause: err }
    )
  }
  if (!statSync(real).isDirectory()) {
    throw new TypeError(`[@shallot/static] root ${JSON.stringify(root)} is not a directory`)
  }
  const index = new FileIndex(real, o)
  index.start()
  if (o.spa !== undefined) {
    const spaKey = o.spa
    let ok = false
    try {
      const st = statSync(index.absOf(spaKey))
      ok = st.isFile()
    } catch {
      ok = false
    }
    if (!ok) {
      index.close()
      throw new TypeError(
        `[@shallot/static] option "spa" must name a file inside root, got ${JSON.stringify(o.spa)}, which is not one`
      )
    }
  }
  const layer = function serveStaticMiddleware(next: Handler): Handler {
    return createHandler(o, index, next)
  }
  return Object.assign(layer, {
    close(): void {
      index.close()
    },
  })
}
