import type { IncomingMessage } from 'node:http'
import { getBasePath, getPath } from '@shallot/stack'

/** The placeholder an id-like path segment becomes. */
export const ID_PLACEHOLDER = ':id'

// Segments that look like identifiers rather than route words.
const NUMBER = /^[-+]?\d+(?:[.,]\d+)?$/
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
const HEX = /^(?:0x)?[0-9a-f]{7,}$/i // git hashes, MongoDB ObjectIds, hex digests
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i
const DATE = /^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?$/i
const TOKEN = /^[A-Za-z0-9_~.=-]{16,}$/ // base64url tokens, slugs with an id part
const DIGIT = /\d/
const LETTER = /[A-Za-z]/

function isId(segment: string): boolean {
  if (segment.length === 0) return false
  if (NUMBER.test(segment)) return true
  if (UUID.test(segment) || ULID.test(segment) || DATE.test(segment)) return true
  if (HEX.test(segment) && DIGIT.test(segment)) return true
  // A long run of letters and digits mixed: a token, a hash, an opaque id.
  return segment.length >= 16 && TOKEN.test(segment) && DIGIT.test(segment) && LETTER.test(segment)
}

/**
 * Collapses the identifier-like segments of a path into `:id`, so that `/users/42/orders/`
 * `7f3c9a1e-...` becomes `/users/:id/orders/:id`: numbers, UUIDs, ULIDs, hex ids of 7+
 * characters (git hashes, MongoDB ObjectIds), ISO dates, and tokens of 16+ characters mixing
 * letters and digits. Other segments are kept as they are, so a path nobody routes
 * (`/wp-admin/setup.php`) is still its own value: the `maxSeries` cap bounds those.
 *
 * @example normalizePath('/users/42/avatar') // '/users/:id/avatar'
 */
export function normalizePath(path: string): string {
  if (path.length <= 1) return path
  const segments = path.split('/')
  let changed = false
  for (let i = 1; i < segments.length; i++) {
    if (isId(segments[i] as string)) {
      segments[i] = ID_PLACEHOLDER
      changed = true
    }
  }
  return changed ? segments.join('/') : path
}

/**
 * A `route` function for {@link monitoring}: the request's full canonical path (outside any
 * `mount`) with identifier-like segments collapsed by {@link normalizePath}. For a refused
 * path (400) it returns undefined, recorded as `__unmatched__`.
 *
 * @example monitoring({ route: normalizeRoute })
 */
export function normalizeRoute(req: IncomingMessage): string | undefined {
  let path: string
  try {
    path = getBasePath(req) + getPath(req)
  } catch {
    return undefined
  }
  return normalizePath(path)
}
