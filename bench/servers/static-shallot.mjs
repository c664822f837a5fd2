// @shallot/static serving bench/servers/static-fixtures.mjs's directory at `/` (defaults:
// index + watcher + memory cache for files up to 64 KiB). Requests: see staticRequests.
import { stack } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const notFound = (_req, res) => {
  res.statusCode = 404
  res.end()
}

serve('static-shallot', stack(serveStatic(ensureStaticFixtures()))(notFound))
