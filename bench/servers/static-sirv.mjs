// lukeed/sirv (production mode: the tree indexed at start-up) on bare node:http, the same
// directory. `etag: true` so that it sends validators like the others. Note: sirv has no
// If-Modified-Since support, so the 304 scenario gets a 200 from it.
import sirv from 'sirv'
import { onBare } from './connect.mjs'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const notFound = (_req, res) => {
  res.statusCode = 404
  res.end()
}

serve('static-sirv', onBare(sirv(ensureStaticFixtures(), { etag: true }), notFound))
