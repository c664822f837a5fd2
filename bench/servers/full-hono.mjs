// The full stack with Hono 4 on @hono/node-server: the seven roles of full-common.mjs, in
// the same order as full-shallot.mjs, with Hono's built-ins where it has one. Where it has
// none (see bench/README.md, "Full stack"):
// - access log: Hono's `logger()` prints its own `<-- GET /hello` / `--> GET /hello 200 1ms`
//   lines and has no combined format; the combined lines come from morgan run on the raw
//   node:http request and response (`c.env.incoming`/`c.env.outgoing`), as koa-morgan does;
// - response time: Hono's built-in is `timing()`, which sends `Server-Timing: total;dur=…`
//   rather than X-Response-Time: used as it is;
// - sessions: hono-sessions (Hono has none built in) with its MemoryStore, configured as its
//   README shows but for `encryptionKey` (see below);
// - the API-key check: a hand-written middleware on /api/* (Hono's built-ins do Basic and
//   Bearer, not API keys).
import { createWriteStream } from 'node:fs'
import { getRequestListener } from '@hono/node-server'
import { serveStatic } from '@hono/node-server/serve-static'
import { prometheus } from '@hono/prometheus'
import { Hono } from 'hono'
import { cors } from 'hono/cors'
import { timing } from 'hono/timing'
import { MemoryStore, sessionMiddleware } from 'hono-sessions'
import morgan from 'morgan'
import {
  ALLOWED_ORIGINS,
  API_KEY_CHALLENGE,
  accessLogFile,
  apiKeyValid,
  HELLO,
  TEXT,
  USER,
  USER_HEADER,
} from './full-common.mjs'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const app = new Hono()

// access log: morgan's combined format, to a file, on the raw request and response
const accessLog = morgan('combined', { stream: createWriteStream(accessLogFile('full-hono')) })
app.use(async (c, next) => {
  accessLog(c.env.incoming, c.env.outgoing, () => {})
  await next()
})
// response time: Hono's timing() (Server-Timing with the total)
app.use(timing())
// request-duration histogram (and a request counter) with prom-client's default process
// metrics; GET /metrics below
const { printMetrics, registerMetrics } = prometheus({ collectDefaultMetrics: true })
app.use(registerMetrics)
// an allowlist of one origin, with credentials
app.use(cors({ origin: ALLOWED_ORIGINS, credentials: true }))
// hono-sessions with its in-memory store, as its README configures it, without the
// `encryptionKey` it "recommends" for every store: with one, every request unseals the
// cookie and every response re-seals it (iron over WebCrypto), which costs far more than the
// HMAC the other contenders sign their cookie with. Without it the cookie is the bare
// session id (a random UUID): the cheapest way hono-sessions fills the role.
app.use(
  sessionMiddleware({
    store: new MemoryStore(),
    expireAfterSeconds: 86_400,
    cookieOptions: { sameSite: 'Lax', path: '/', httpOnly: true },
  })
)
// files under /static
app.use(
  '/static/*',
  serveStatic({
    root: ensureStaticFixtures(),
    rewriteRequestPath: (path) => path.slice('/static'.length),
  })
)
// /api and below need X-API-Key
app.use('/api/*', async (c, next) => {
  if (apiKeyValid(c.req.header('x-api-key'))) return next()
  c.header('WWW-Authenticate', API_KEY_CHALLENGE)
  return c.text('Authentication required', 401)
})

app.get('/metrics', printMetrics)
app.get('/hello', (c) => {
  c.header(USER_HEADER, String(c.get('session').get('user') ?? 'anonymous'))
  c.header('Content-Type', TEXT)
  return c.body(HELLO)
})
app.get('/login', (c) => {
  c.get('session').set('user', USER)
  return c.text('logged in')
})
app.get('/api/*', (c) => c.text('api'))

serve('full-hono', getRequestListener(app.fetch))
