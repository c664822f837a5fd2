// The full stack with Express 5 and the expressjs middleware: the seven roles of
// full-common.mjs, in the same order as full-shallot.mjs.
import { createWriteStream } from 'node:fs'
import cors from 'cors'
import express from 'express'
import promBundle from 'express-prom-bundle'
import session from 'express-session'
import morgan from 'morgan'
import responseTime from 'response-time'
import {
  ALLOWED_ORIGINS,
  API_KEY_CHALLENGE,
  accessLogFile,
  apiKeyValid,
  HELLO,
  SESSION_SECRET,
  USER,
  USER_HEADER,
} from './full-common.mjs'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const app = express()

// access log: morgan's combined format, to a file
app.use(morgan('combined', { stream: createWriteStream(accessLogFile('full-express')) }))
// X-Response-Time
app.use(responseTime())
// request-duration histogram (method and status code labels, as full-shallot's) with
// prom-client's default process metrics, and GET /metrics
app.use(
  promBundle({
    includeMethod: true,
    includeStatusCode: true,
    includePath: false,
    promClient: { collectDefaultMetrics: {} },
  })
)
// an allowlist of one origin, with credentials
app.use(cors({ origin: ALLOWED_ORIGINS, credentials: true }))
// express-session with its MemoryStore; its recommended settings (its defaults for both
// are deprecated). It warns that MemoryStore is not for production: left as is.
app.use(
  session({
    secret: SESSION_SECRET,
    store: new session.MemoryStore(),
    resave: false,
    saveUninitialized: false,
  })
)
// files under /static (serve-static): /hello never enters the mount
app.use('/static', express.static(ensureStaticFixtures()))
// /api and below need X-API-Key (Express has no API-key middleware: a hand-written one,
// constant-time, see full-common.mjs): /hello never enters the mount
app.use('/api', (req, res, next) => {
  if (apiKeyValid(req.get('x-api-key'))) return next()
  res
    .set('WWW-Authenticate', API_KEY_CHALLENGE)
    .status(401)
    .type('text')
    .send('Authentication required')
})

app.get('/hello', (req, res) => {
  res.set(USER_HEADER, String(req.session.user ?? 'anonymous'))
  res.type('text').send(HELLO)
})
app.get('/login', (req, res) => {
  req.session.user = USER
  res.type('text').send('logged in')
})
app.get('/api/{*rest}', (_req, res) => {
  res.type('text').send('api')
})

serve('full-express', app)
