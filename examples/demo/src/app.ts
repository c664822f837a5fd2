import { type Handler, mount, stack } from '@shallot/stack'
import { accessLog } from './access-log.js'
import { api } from './api.js'
import { home } from './home.js'
import { publicFiles } from './public-files.js'
import { responseTime } from './response-time.js'

/** Options of {@link createApp}. */
export interface AppOptions {
  /**
   * Where the access log lines go (server.ts passes `console.log`). No access log when
   * absent, which keeps test output quiet.
   */
  log?: (line: string) => void
  /**
   * The folder served under `/public/`.
   *
   * @default the demo's public/ folder
   */
  publicDir?: string | URL
}

/**
 * The demo application: one Node request listener, `(req, res) => ...`, that
 * `http.createServer()` takes as it is. This is the one place where the layers are listed.
 */
export function createApp(options: AppOptions = {}): Handler {
  const { log, publicDir = new URL('../public/', import.meta.url) } = options

  return stack(
    // The layers, in onion order: the first sees the request first and the response last.
    // A falsy entry is skipped, so `log && accessLog(log)` adds the layer only when asked.

    // logging: @shallot/logging's logging() will take this place.
    log && accessLog(log),
    // timing: @shallot/timing's timing() will replace this hand-written layer.
    responseTime(),
    // monitoring: monitoring() from @shallot/monitoring (metrics, /healthz) goes here.
    // compression: isProd && compression() from @shallot/compression goes here.
    // cors: cors({ origin: ['https://app.example.com'] }) from @shallot/cors goes here.
    // session: session({ secret: process.env.SESSION_SECRET }) from @shallot/session goes here.
    // auth: apiKey({ keys, paths: ['/api/'] }) from @shallot/auth goes here.

    // static: serveStatic('./public', { prefix: '/public' }) from @shallot/static will
    // replace this temporary handler.
    mount('/public', publicFiles(publicDir)),
    // The API: a handler mounted at /api sees /api/test as /test.
    mount('/api', api)
  )(
    // The innermost handler: the home page, and a 404 for whatever nothing above answered.
    home
  )
}
