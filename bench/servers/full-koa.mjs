// The full stack with Koa 3 and its middleware: the seven roles of full-common.mjs, in the
// same order as full-shallot.mjs. Three roles have no ready-made Koa package that fits, and
// are filled as a Koa user would (see bench/README.md, "Full stack"):
// - the in-memory session store: koa-session keeps the session in the cookie unless given
//   a `store`, and ships none; `MapStore` below is its documented store interface over a Map;
// - the request-duration histogram: no maintained Koa exporter, so a small prom-client
//   middleware (the pattern the unmaintained koa-prometheus packages use);
// - the API-key check: a sub-app mounted at /api with a hand-written check.
import { createWriteStream } from 'node:fs'
import cors from '@koa/cors'
import Koa from 'koa'
import morgan from 'koa-morgan'
import mount from 'koa-mount'
import responseTime from 'koa-response-time'
import session from 'koa-session'
import serve from 'koa-static'
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import {
  ALLOWED_ORIGINS,
  API_KEY_CHALLENGE,
  accessLogFile,
  apiKeyValid,
  exitWithHarness,
  HELLO,
  SESSION_SECRET,
  TEXT,
  USER,
  USER_HEADER,
} from './full-common.mjs'
import { serve as listen } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

/** koa-session's external store interface (get/set/destroy), over a Map, with expiry. */
class MapStore {
  /** @type {Map<string, { session: unknown, expires: number }>} */
  sessions = new Map()
  async get(key) {
    const entry = this.sessions.get(key)
    if (entry === undefined) return undefined
    if (entry.expires <= Date.now()) {
      this.sessions.delete(key)
      return undefined
    }
    return entry.session
  }
  async set(key, value, maxAge) {
    const ttl = typeof maxAge === 'number' ? maxAge : 86_400_000
    this.sessions.set(key, { session: value, expires: Date.now() + ttl })
  }
  async destroy(key) {
    this.sessions.delete(key)
  }
}

const registry = new Registry()
collectDefaultMetrics({ register: registry })
const duration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Duration of HTTP requests in seconds',
  labelNames: ['method', 'status_code'],
  registers: [registry],
})

const app = new Koa()
app.keys = [SESSION_SECRET]
const allowed = new Set(ALLOWED_ORIGINS)

// access log: morgan's combined format, to a file
app.use(morgan('combined', { stream: createWriteStream(accessLogFile('full-koa')) }))
// X-Response-Time (koa-response-time; hrtime for fractional milliseconds like the others)
app.use(responseTime({ hrtime: true }))
// request-duration histogram (method and status code labels) with prom-client's default
// process metrics, and GET /metrics (not counted, like express-prom-bundle's)
app.use(async (ctx, next) => {
  if (ctx.path === '/metrics') {
    ctx.type = registry.contentType
    ctx.body = await registry.metrics()
    return
  }
  const end = duration.startTimer()
  try {
    await next()
  } finally {
    end({ method: ctx.method, status_code: ctx.status })
  }
})
// an allowlist of one origin, with credentials (@koa/cors takes a function for a list)
app.use(
  cors({
    origin: (ctx) => (allowed.has(ctx.get('Origin')) ? ctx.get('Origin') : ''),
    credentials: true,
  })
)
// koa-session (signed cookie holding the session id) with the in-memory store above
app.use(session({ store: new MapStore() }, app))
// files under /static
app.use(mount('/static', serve(ensureStaticFixtures())))
// /api and below need X-API-Key: a sub-app mounted at /api
const api = new Koa()
api.use(async (ctx, next) => {
  if (!apiKeyValid(ctx.get('x-api-key'))) {
    ctx.set('WWW-Authenticate', API_KEY_CHALLENGE)
    ctx.status = 401
    ctx.type = TEXT
    ctx.body = 'Authentication required'
    return
  }
  await next()
})
api.use((ctx) => {
  ctx.type = TEXT
  ctx.body = 'api'
})
app.use(mount('/api', api))

// the application (Koa has no router built in, and none is needed for two paths)
app.use((ctx) => {
  if (ctx.path === '/hello') {
    ctx.set(USER_HEADER, String(ctx.session?.user ?? 'anonymous'))
    ctx.type = TEXT
    ctx.body = HELLO
  } else if (ctx.path === '/login') {
    ctx.session.user = USER
    ctx.type = TEXT
    ctx.body = 'logged in'
  }
})

listen('full-koa', app.callback())
exitWithHarness()
