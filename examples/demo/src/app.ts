import { randomBytes } from 'node:crypto'
import { apiKey } from '@shallot/auth'
import { compression } from '@shallot/compression'
import { cors } from '@shallot/cors'
import { monitoring, normalizeRoute, type ReadinessCheck } from '@shallot/monitoring'
import { MemoryStore, type SessionStore, session } from '@shallot/session'
import { type Handler, type Middleware, mount, stack } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { timing, traceLayers } from '@shallot/timing'
import { api } from './api.js'
import { home } from './home.js'

/** The API key the demo accepts when no other keys are given (`DEMO_API_KEYS` unset). */
export const DEFAULT_API_KEYS: readonly string[] = ['test-key-123']

/** The origin whose pages may call the demo from a browser, with credentials, by default. */
export const CORS_ORIGIN = 'http://localhost:3000'

/** Options of {@link createApp}. */
export interface AppOptions {
  /**
   * The access log layer, outermost. server.ts builds it with `logging()` from
   * @shallot/logging (`dev` format on a terminal, `combined` otherwise) and flushes it on
   * shutdown. No access log when absent, which keeps test output quiet.
   */
  accessLog?: Middleware
  /**
   * The folder served under `/static/`.
   *
   * @default the demo's public/ folder
   */
  publicDir?: string | URL
  /**
   * The API keys accepted in `X-API-Key` for `/api` and below (server.ts passes the
   * comma-separated `DEMO_API_KEYS`). Empty or duplicate keys are refused at start-up.
   *
   * @default ['test-key-123']
   */
  apiKeys?: readonly string[]
  /**
   * The origins whose pages may call the demo from a browser, with credentials (server.ts
   * passes the comma-separated `CORS_ORIGINS`). Checked by @shallot/cors at start-up.
   *
   * @default ['http://localhost:3000']
   */
  corsOrigins?: readonly string[]
  /**
   * Signs the session cookie (HMAC-SHA256), at least 32 characters. server.ts passes
   * `SESSION_SECRET`, or a random one (sessions then end when the server restarts).
   *
   * @default a random secret
   */
  sessionSecret?: string
  /**
   * Where sessions are kept. server.ts passes a RedisStore when `REDIS_URL` is set.
   *
   * @default a MemoryStore of at most 10,000 sessions
   */
  sessionStore?: SessionStore
  /**
   * What `/readyz` checks, by name (server.ts checks Redis when it uses it). Each gets 1 s.
   *
   * @default none: ready as soon as it listens
   */
  checks?: Readonly<Record<string, ReadinessCheck>>
}

/**
 * The demo application: one Node request listener, `(req, res) => ...`, that
 * `http.createServer()` takes as it is. This is the one place where the layers are listed.
 */
export function createApp(options: AppOptions = {}): Handler {
  const {
    accessLog,
    publicDir = new URL('../public/', import.meta.url),
    apiKeys = DEFAULT_API_KEYS,
    corsOrigins = [CORS_ORIGIN],
    sessionSecret = randomSecret(),
    sessionStore = new MemoryStore({ maxEntries: 10_000 }),
    checks,
  } = options

  return stack(
    // traceLayers() reports every layer below to timing(), so `Server-Timing` carries one
    // `layer.<name>` entry per layer (the devtools' Network panel shows them). It exposes how
    // the app is built: a production server would leave it out (or turn it on for staff).
    { trace: traceLayers() },

    // The layers, in onion order: the first sees the request first and the response last.
    // A falsy entry is skipped, so `accessLog` adds the layer only when given.

    // logging: one line per exchange (when it is over: streamed answers and client aborts
    // included), an `X-Request-Id` on every response, errors logged once with their stack.
    accessLog,
    // timing: `X-Response-Time` and `Server-Timing` (total, the layers, the handlers' marks
    // from getTiming(req)) on every response, errors and 401s included. The demo used to
    // have a hand-written layer here; docs/recipes/write-your-own-middleware.md still
    // builds one step by step.
    timing(),
    // monitoring: request metrics, and the endpoints /metrics (Prometheus), /stats (JSON),
    // /healthz, /readyz and the live dashboard /_monitor. Routes are normalised (ids become
    // :id) and capped, so a scanner cannot blow up the series. Open to anyone here: see
    // packages/monitoring's README to put them behind @shallot/auth.
    monitoring({ route: normalizeRoute, ...(checks === undefined ? {} : { checks }) }),
    // compression: gzip, brotli or deflate as the client accepts, for compressible answers
    // of 1 KiB and more (the home page, /stats, /metrics); inside logging and monitoring,
    // so they count the bytes that go on the wire.
    compression(),
    // cors: a browser app on http://localhost:3000 (or CORS_ORIGINS) may call the API with
    // credentials. Before the auth layer: preflights carry no key and are answered here, and
    // a 401 still carries the CORS headers, so the page can read it.
    named(
      'cors',
      cors({
        origin: [...corsOrigins],
        credentials: true,
        exposedHeaders: ['X-Response-Time', 'Server-Timing', 'X-Request-Id'],
      })
    ),
    // static: the files of public/ under /static/, with ETag and Last-Modified (a reload
    // revalidates with a 304), ranges, and `nosniff`. Decided on the stack's canonical path:
    // nothing outside public/ is reachable, dotfiles and links leading out are not served.
    // Everything under /static is a file or a 404 (fallthrough off, 405 for other methods).
    // Before the session: a file needs none, so it is never held up by (or refused for) a
    // session store that is slow or down.
    named('static', serveStatic(publicDir, { prefix: '/static', fallthrough: false, maxAge: 60 })),
    // session: the home page counts your visits. The cookie (`sid`, HttpOnly, SameSite=Lax)
    // is only sent once the session changes, so /api sets none.
    session({ secret: sessionSecret, store: sessionStore }),
    // auth: /api and below need a key in `X-API-Key` (not /apix); everything else is open.
    // Missing or wrong keys get a 401 with `WWW-Authenticate`, rendered by the stack.
    named('auth', apiKey({ keys: apiKeys, paths: ['/api'] })),
    // The API: a handler mounted at /api sees /api/test as /test.
    named('api', mount('/api', api))
  )(
    // The innermost handler: the home page, and a 404 for whatever nothing above answered.
    home
  )
}

/** A secret for this process only: fine for a demo, not for several processes. */
function randomSecret(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * The same layer under another name. The stack names each traced layer after the handler
 * its middleware returns, which for `mount()` is `mount` whatever it mounts:
 * `layer.public` and `layer.api` read better in `Server-Timing`.
 */
function named(name: string, layer: Middleware): Middleware {
  return (next) => {
    const handler = layer(next)
    // A layer that hands back `next` itself is the stack's own: leave its name alone.
    if (handler === next) return handler
    const renamed: Handler = (req, res) => handler(req, res)
    return Object.defineProperty(renamed, 'name', { value: name })
  }
}
