// expressjs/serve-static (send) on bare node:http, the same directory: the peer of
// static-shallot.mjs. Defaults (weak ETag, Last-Modified, Cache-Control: public, max-age=0).
import serveStatic from 'serve-static'
import { onBare } from './connect.mjs'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const notFound = (_req, res) => {
  res.statusCode = 404
  res.end()
}

serve('static-serve-static', onBare(serveStatic(ensureStaticFixtures()), notFound))
