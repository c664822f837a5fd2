// The full stack with Shallot: the seven roles of full-common.mjs, in examples/demo's order
// (logging, timing, monitoring, cors, session, static, auth), each package with the
// demo's settings or its defaults.
import { createWriteStream } from 'node:fs'
import { apiKey } from '@shallot/auth'
import { cors } from '@shallot/cors'
import { logging } from '@shallot/logging'
import { monitoring } from '@shallot/monitoring'
import { getSession, MemoryStore, session } from '@shallot/session'
import { stack } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { responseTime } from '@shallot/timing'
import {
  ALLOWED_ORIGINS,
  API_KEY,
  accessLogFile,
  HELLO,
  SESSION_SECRET,
  TEXT,
  USER,
  USER_HEADER,
} from './full-common.mjs'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

/** The application: /hello reads the session, /login starts one, /api/* is the API. */
function app(req, res) {
  const url = req.url ?? '/'
  if (url === '/hello') {
    res.setHeader(USER_HEADER, String(getSession(req).get('user') ?? 'anonymous'))
    res.setHeader('content-type', TEXT)
    res.end(HELLO)
  } else if (url === '/login') {
    getSession(req).set('user', USER)
    res.setHeader('content-type', TEXT)
    res.end('logged in')
  } else if (url === '/api' || url.startsWith('/api/')) {
    res.setHeader('content-type', TEXT)
    res.end('api')
  } else {
    res.statusCode = 404
    res.end()
  }
}

serve(
  'full-shallot',
  stack(
    // access log: morgan's combined format, to a file (request ids on, the default)
    logging({ format: 'combined', sink: createWriteStream(accessLogFile('full-shallot')) }),
    // X-Response-Time
    responseTime(),
    // request metrics (the duration histogram among them) and GET /metrics
    monitoring(),
    // an allowlist of one origin, with credentials
    cors({ origin: ALLOWED_ORIGINS, credentials: true }),
    // cookie sessions in the bounded in-memory store
    session({ secret: SESSION_SECRET, store: new MemoryStore() }),
    // files under /static: /hello is a miss, decided on the prefix
    serveStatic(ensureStaticFixtures(), { prefix: '/static' }),
    // /api and below need X-API-Key: /hello passes
    apiKey({ keys: { [API_KEY]: 'bench' }, paths: ['/api'] })
  )(app)
)
