// Hono's serveStatic from @hono/node-server (v2) on its Node adapter, the same directory.
// Note: it sends Last-Modified but never answers 304, so the 304 scenario gets a 200 from it.
import { getRequestListener } from '@hono/node-server'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono } from 'hono'
import { serve } from './serve.mjs'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const app = new Hono()
app.use('/*', serveStatic({ root: ensureStaticFixtures() }))
app.notFound((c) => c.body(null, 404))

serve('static-hono', getRequestListener(app.fetch))
