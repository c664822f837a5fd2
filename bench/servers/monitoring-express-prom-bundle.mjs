// express-prom-bundle on bare node:http: the peer of monitoring-shallot.mjs, with comparable
// options: method and status_code labels, no path label, its default duration histogram,
// prom-client's default process metrics, and /metrics served by the middleware.
//
// It runs without Express: on the request path it reads only `req.originalUrl || req.url`,
// `req.method`, `res.statusCode`/`res.headersSent` and on-finished, all plain node:http.
// (Its /metrics reply uses res.writeHead/res.end, also plain; only the `metricsApp` and
// clusterMetrics() helpers need Express's res.set/res.send, and they are not used here.)
// No shim is needed.
import promBundle from 'express-prom-bundle'
import { onBare } from './connect.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

serve(
  'monitoring-express-prom-bundle',
  onBare(
    promBundle({
      includeMethod: true,
      includeStatusCode: true,
      includePath: false,
      promClient: { collectDefaultMetrics: {} },
    }),
    handler
  )
)
