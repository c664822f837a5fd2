// The role check of the full-stack scenarios: before a full-* server is measured, the
// harness asks it a few questions over real HTTP and reads its access log back, so a server
// that is fast because a role silently does nothing fails the run instead. Every missing
// role is reported, not only the first.
import { readFileSync } from 'node:fs'
import { API_KEY, CORS_ORIGIN, HELLO, USER, USER_HEADER } from './servers/full-common.mjs'

/** A refused origin for the allowlist check. */
const OTHER_ORIGIN = 'https://evil.example'

/** The User-Agent of the check's requests: found again in the combined log line. */
const AGENT = 'shallot-bench-role-check'

/**
 * A combined-format line (morgan's `combined`, Apache's): remote address, identity, user,
 * [date], "request line", status, bytes (or `-` when no Content-Length header was set),
 * "referrer", "user agent".
 *
 * @param {string} method
 * @param {string} path
 * @param {number} status
 */
const combinedLine = (method, path, status) =>
  new RegExp(
    `^\\S+ \\S+ \\S+ \\[\\d{2}/[A-Z][a-z]{2}/\\d{4}:\\d{2}:\\d{2}:\\d{2} [+-]\\d{4}\\] ` +
      `"${method} ${path.replaceAll('/', '\\/')} HTTP/1\\.1" ${status} (\\d+|-) "-" "${AGENT}"$`,
    'm'
  )

/**
 * @typedef {{ status: number, headers: import('node:http').IncomingHttpHeaders, body: string }} Answer
 * @typedef {(request: { method?: string, path?: string, headers?: Record<string, string> }) => Promise<Answer>} Fetch
 */

/**
 * Checks the seven roles of a full-* server (see servers/full-common.mjs) and throws one
 * error naming every role that is missing.
 *
 * @param {object} o
 * @param {string} o.name the scenario, for the message
 * @param {Fetch} o.fetch one request to the server
 * @param {string} o.accessLog the file the server logs to
 * @param {'x-response-time' | 'server-timing'} o.responseTimeHeader the header the
 *   contender's response-time role sets
 */
export async function checkFullStack({ name, fetch, accessLog, responseTimeHeader }) {
  /** @type {string[]} */
  const missing = []
  const ua = { 'user-agent': AGENT }
  const fail = (/** @type {string} */ role, /** @type {string} */ why) => {
    missing.push(`${role}: ${why}`)
  }

  // the application, CORS and the response-time header, on the measured request
  const hello = await fetch({ path: '/hello', headers: { ...ua, origin: CORS_ORIGIN } })
  if (hello.status !== 200 || hello.body !== HELLO) {
    fail('application', `GET /hello answered ${hello.status} ${JSON.stringify(hello.body)}`)
  }
  if (hello.headers['access-control-allow-origin'] !== CORS_ORIGIN) {
    fail('cors', `no Access-Control-Allow-Origin: ${CORS_ORIGIN} for an allowed origin`)
  }
  if (hello.headers['access-control-allow-credentials'] !== 'true') {
    fail('cors', 'no Access-Control-Allow-Credentials: true')
  }
  const other = await fetch({ path: '/hello', headers: { ...ua, origin: OTHER_ORIGIN } })
  if (other.headers['access-control-allow-origin'] !== undefined) {
    fail('cors', `the allowlist let ${OTHER_ORIGIN} in`)
  }
  const time = hello.headers[responseTimeHeader]
  const timePattern =
    responseTimeHeader === 'server-timing' ? /(^|,\s*)total;dur=\d/ : /^\d+(\.\d+)?ms$/
  if (typeof time !== 'string' || !timePattern.test(time)) {
    fail('response time', `${responseTimeHeader} is ${JSON.stringify(time)}`)
  }

  // the session: a cookie from /login, read back by /hello
  const login = await fetch({ path: '/login', headers: ua })
  const cookie = cookieHeader(login.headers['set-cookie'])
  if (login.status !== 200 || cookie === '') {
    fail('session', `GET /login answered ${login.status} without a Set-Cookie`)
  } else {
    const again = await fetch({ path: '/hello', headers: { ...ua, origin: CORS_ORIGIN, cookie } })
    if (again.headers[USER_HEADER] !== USER) {
      fail('session', `/hello with the cookie read ${JSON.stringify(again.headers[USER_HEADER])}`)
    }
  }
  if (hello.headers[USER_HEADER] !== 'anonymous') {
    fail('session', `/hello without a cookie read ${JSON.stringify(hello.headers[USER_HEADER])}`)
  }

  // the API key, scoped to /api
  const refused = await fetch({ path: '/api/x', headers: ua })
  if (refused.status !== 401 || refused.headers['www-authenticate'] === undefined) {
    fail('api key', `GET /api/x without a key answered ${refused.status}`)
  }
  const allowed = await fetch({ path: '/api/x', headers: { ...ua, 'x-api-key': API_KEY } })
  if (allowed.status !== 200) {
    fail('api key', `GET /api/x with the key answered ${allowed.status}`)
  }

  // static files under /static
  const file = await fetch({ path: '/static/1k.txt', headers: ua })
  if (file.status !== 200 || file.body.length !== 1024) {
    fail('static', `GET /static/1k.txt answered ${file.status}, ${file.body.length} bytes`)
  }

  // the request-duration histogram has counted the GET /hello above
  const metrics = await poll(async () => {
    const m = await fetch({ path: '/metrics', headers: ua })
    return m.status === 200 && countedHello(m.body) ? m : undefined
  })
  if (metrics === undefined) {
    fail('monitoring', 'GET /metrics has no request-duration histogram that counted GET 200')
  }

  // the combined access log: the lines of /hello and of the refused /api/x
  const logged = await poll(async () => {
    let text = ''
    try {
      text = readFileSync(accessLog, 'utf8')
    } catch {
      return undefined
    }
    const ok = combinedLine('GET', '/hello', 200).test(text)
    return ok && combinedLine('GET', '/api/x', 401).test(text) ? text : undefined
  })
  if (logged === undefined) {
    fail('access log', `no combined-format lines for GET /hello and GET /api/x in ${accessLog}`)
  }

  if (missing.length > 0) {
    throw new Error(`${name}: role check failed:\n  ${missing.join('\n  ')}`)
  }
}

/**
 * Every `name=value` of a response's Set-Cookie headers, as one Cookie header.
 *
 * @param {string[] | undefined} setCookie
 * @returns {string}
 */
export function cookieHeader(setCookie) {
  return (setCookie ?? [])
    .map((line) => line.split(';')[0]?.trim() ?? '')
    .filter((pair) => pair.includes('='))
    .join('; ')
}

/**
 * Whether a Prometheus text exposition has a histogram of request durations (a metric whose
 * name says "duration", with `_bucket` series) whose `_count` for a GET answered 200 is at
 * least 1. The contenders name the metric and its labels differently
 * (`http_server_request_duration_seconds`, `http_request_duration_seconds`; `status_code`,
 * `status`).
 *
 * @param {string} text
 * @returns {boolean}
 */
function countedHello(text) {
  for (const m of text.matchAll(/^(\w*duration\w*)_count\{([^}]*)\} (\d+(?:\.\d+)?)$/gm)) {
    const [, metric, labels, value] = m
    if (!/"GET"/.test(labels ?? '') || !/"200"/.test(labels ?? '')) continue
    if (Number(value) < 1) continue
    if (text.includes(`${metric}_bucket{`)) return true
  }
  return false
}

/**
 * Calls `attempt` until it returns something, every 25 ms for up to 3 s (logs are written
 * asynchronously, and metrics may be recorded when the exchange is over).
 *
 * @template T
 * @param {() => Promise<T | undefined>} attempt
 * @returns {Promise<T | undefined>}
 */
async function poll(attempt) {
  const deadline = Date.now() + 3000
  for (;;) {
    const value = await attempt()
    if (value !== undefined || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
