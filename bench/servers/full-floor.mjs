// The floor of the full stack: bare node:http filling the seven roles of full-common.mjs for
// `GET /hello` by hand, in the fewest steps, with no library and no options: what any full
// stack pays at least for this request, to read full-shallot's cost against. Per request:
//   access log   a `combined` line on 'finish', batched to a file (10 ms or 64 KiB, one
//                write in flight), the client's fields checked for characters to escape
//   response time  performance.now() at arrival, X-Response-Time set just before res.end
//   metrics      a request-duration histogram (Prometheus's default buckets) by method and
//                status, as plain counters: no prom-client, no label hashing
//   CORS         one string comparison of Origin, three headers
//   session      no Cookie header: nothing to read, no cookie sent
//   static files a prefix test on the path: /hello is a miss
//   API key      a prefix test on the path: /hello is not under /api
// It serves only /hello (no /login, /api, /static or /metrics): it is not a contender and has
// no role check; no request id (not one of the seven roles; @shallot/logging sends one by
// default).
import { combinedLog } from './floor-common.mjs'
import { accessLogFile, CORS_ORIGIN, HELLO, TEXT, USER_HEADER } from './full-common.mjs'
import { serve } from './serve.mjs'

const log = combinedLog(accessLogFile('full-floor'))

// Prometheus's default buckets (seconds); one series per method and status seen.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** @type {Map<string, { counts: Float64Array, sum: number, count: number }>} */
const series = new Map()
function observe(method, status, seconds) {
  const key = `${method} ${status}`
  let s = series.get(key)
  if (s === undefined) {
    s = { counts: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 }
    series.set(key, s)
  }
  let i = 0
  while (i < BUCKETS.length && seconds > BUCKETS[i]) i++
  s.counts[i]++
  s.sum += seconds
  s.count++
}

const kStart = Symbol('start')
function onFinish() {
  const req = this.req
  observe(req.method, this.statusCode, (performance.now() - req[kStart]) / 1000)
  log(this)
}

serve('full-floor', (req, res) => {
  req[kStart] = performance.now()
  res.once('finish', onFinish)
  const origin = req.headers.origin
  if (origin === CORS_ORIGIN) {
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('access-control-allow-credentials', 'true')
    res.setHeader('vary', 'Origin')
  }
  const url = req.url
  // static: not under /static; API key: not under /api; session: no cookie
  if (url === '/hello' && req.headers.cookie === undefined) {
    res.setHeader(USER_HEADER, 'anonymous')
    res.setHeader('content-type', TEXT)
    res.setHeader('x-response-time', `${(performance.now() - req[kStart]).toFixed(3)}ms`)
    res.end(HELLO)
    return
  }
  res.statusCode = 404
  res.end()
})
