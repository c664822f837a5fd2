// Shared by the full-* servers (scenario 1 of issue 8: `/hello` through the full stack).
//
// Every full-* server has the same seven roles, each filled with its own framework's
// middleware (see bench/README.md, "Full stack"), and answers:
//   GET /hello         'hello world' (11 bytes, text/plain): the measured request. The
//                      application reads `user` from the session and answers it in
//                      `x-session-user` ('bench', or 'anonymous' without a session).
//   GET /login         stores { user: 'bench' } in a new session: its Set-Cookie is what the
//                      *-cookie scenarios send (the harness's `cookieFrom`)
//   GET /api/...       behind the API key (X-API-Key): 401 without it, 200 with it
//   GET /static/...    files of static-fixtures.mjs's directory (1k.txt, 256k.bin)
//   GET /metrics       the Prometheus exposition, with a request-duration histogram
// and writes a `combined` access log line per exchange to $BENCH_ACCESS_LOG (a file the
// harness names and reads back in its role check), or to a temporary file.
import { createHash, timingSafeEqual } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { API_KEY, CORS_ORIGIN } from './requests.mjs'
import { SESSION_SECRET } from './session-common.mjs'

export { API_KEY, CORS_ORIGIN, SESSION_SECRET }

/** The measured body: 11 bytes. */
export const HELLO = 'hello world'

/** Its content type, the same for every contender. */
export const TEXT = 'text/plain; charset=utf-8'

/** What /login stores in the session, and what /hello then reads back. */
export const USER = 'bench'

/** The name of the response header carrying the session's user. */
export const USER_HEADER = 'x-session-user'

/** The origins CORS allows (an allowlist of one, as in examples/demo). */
export const ALLOWED_ORIGINS = [CORS_ORIGIN]

/**
 * The access log file: $BENCH_ACCESS_LOG when the harness gives one (it reads it back in
 * its role check), else a temporary file. Removed when the process exits (and by the
 * harness, should the process be killed outright).
 *
 * @param {string} name
 * @returns {string}
 */
export function accessLogFile(name) {
  const file =
    process.env.BENCH_ACCESS_LOG || join(tmpdir(), `shallot-bench-${name}-${process.pid}.log`)
  process.on('exit', () => rmSync(file, { force: true }))
  return file
}

const digest = (/** @type {string} */ s) =>
  createHash('sha256').update('shallot-bench-api-key').update(s).digest()
const KEY_DIGEST = digest(API_KEY)

/**
 * The hand-written API-key check of the peers (none of them ships one): a constant-time
 * comparison of SHA-256 digests, as @shallot/auth's `apiKey` does.
 *
 * @param {unknown} key the X-API-Key header
 * @returns {boolean}
 */
export function apiKeyValid(key) {
  return typeof key === 'string' && timingSafeEqual(digest(key), KEY_DIGEST)
}

/** The challenge the peers' 401 carries (the same as @shallot/auth's). */
export const API_KEY_CHALLENGE = 'ApiKey realm="Restricted", header="x-api-key"'

/**
 * Exits on SIGTERM/SIGINT and, under the harness (SHALLOT_BENCH_WATCH_STDIN=1), when stdin
 * closes: what serve.mjs does, for the servers that listen through their framework.
 */
export function exitWithHarness() {
  const stop = () => process.exit(0)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  if (process.env.SHALLOT_BENCH_WATCH_STDIN === '1') {
    process.stdin.on('end', stop)
    process.stdin.on('error', stop)
    process.stdin.resume()
  }
}

/** The port from $PORT, checked. */
export function portFromEnv() {
  const port = Number(process.env.PORT ?? 0)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`[bench] PORT must be an integer in 0..65535, got ${process.env.PORT}`)
  }
  return port
}
