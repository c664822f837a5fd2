// The full stack with Fastify 5 and its plugins: the seven roles of full-common.mjs, in
// the same order as full-shallot.mjs. Two roles have no Fastify plugin and are filled as a
// Fastify user would (see bench/README.md, "Full stack"):
// - access log: Fastify's logger is pino (JSON lines); the combined format comes from
//   morgan run on the raw node:http request and response in an onRequest hook, which is
//   all koa-morgan does for Koa;
// - X-Response-Time: an onSend hook with `reply.elapsedTime`.
import { createWriteStream } from 'node:fs'
import fastifyCookie from '@fastify/cookie'
import fastifyCors from '@fastify/cors'
import fastifySession from '@fastify/session'
import fastifyStatic from '@fastify/static'
import Fastify from 'fastify'
import metricsPlugin from 'fastify-metrics'
import morgan from 'morgan'
import {
  ALLOWED_ORIGINS,
  API_KEY_CHALLENGE,
  accessLogFile,
  apiKeyValid,
  exitWithHarness,
  HELLO,
  portFromEnv,
  SESSION_SECRET,
  TEXT,
  USER,
  USER_HEADER,
} from './full-common.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const app = Fastify({ logger: false })

// access log: morgan's combined format, to a file
const accessLog = morgan('combined', { stream: createWriteStream(accessLogFile('full-fastify')) })
app.addHook('onRequest', (request, reply, done) => {
  accessLog(request.raw, reply.raw, done)
})
// X-Response-Time, from Fastify's own clock (no plugin for it)
app.addHook('onSend', (_request, reply, payload, done) => {
  reply.header('x-response-time', `${reply.elapsedTime.toFixed(3)}ms`)
  done(null, payload)
})
// request-duration histogram (fastify-metrics over @platformatic/prom-client, which it picks
// up on its own), default process metrics, and GET /metrics. Its default also records a
// summary of the same durations: off, the role is the histogram.
await app.register(metricsPlugin, {
  endpoint: '/metrics',
  routeMetrics: { enabled: { histogram: true, summary: false } },
})
// an allowlist of one origin, with credentials
await app.register(fastifyCors, { origin: ALLOWED_ORIGINS, credentials: true })
// @fastify/session (needs @fastify/cookie) with its default in-memory store. `secure: false`
// because the bench speaks plain http (its default, true, sends no cookie over http);
// sessions saved and cookies sent only when changed, as express-session's recommended
// settings and @shallot/session do (its defaults, true and true, would write a session and
// send a cookie on every request).
await app.register(fastifyCookie)
await app.register(fastifySession, {
  secret: SESSION_SECRET,
  cookie: { secure: false },
  saveUninitialized: false,
  rolling: false,
})
// files under /static
await app.register(fastifyStatic, { root: ensureStaticFixtures(), prefix: '/static/' })
// /api and below need X-API-Key: an onRequest hook of an encapsulated plugin, so it runs
// for the routes under /api only
await app.register(
  async (api) => {
    api.addHook('onRequest', async (request, reply) => {
      if (apiKeyValid(request.headers['x-api-key'])) return
      reply
        .code(401)
        .header('www-authenticate', API_KEY_CHALLENGE)
        .type(TEXT)
        .send('Authentication required')
      return reply
    })
    const handler = async (_request, reply) => reply.type(TEXT).send('api')
    api.get('/', handler)
    api.get('/*', handler)
  },
  { prefix: '/api' }
)

app.get('/hello', async (request, reply) => {
  reply.header(USER_HEADER, String(request.session.get('user') ?? 'anonymous'))
  return reply.type(TEXT).send(HELLO)
})
app.get('/login', async (request, reply) => {
  request.session.set('user', USER)
  return reply.type(TEXT).send('logged in')
})

await app.listen({ port: portFromEnv(), host: '127.0.0.1' })
const line = {
  event: 'listening',
  name: 'full-fastify',
  port: app.server.address().port,
  pid: process.pid,
}
process.stdout.write(`${JSON.stringify(line)}\n`)
exitWithHarness()
