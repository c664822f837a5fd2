// expressjs/compression with its defaults on bare node:http, serving the compression-* body:
// the peer of compression-shallot.
import compression from 'compression'
import { jsonHandler } from './compression-body.mjs'
import { onBare } from './connect.mjs'
import { serve } from './serve.mjs'

serve('compression-expressjs', onBare(compression(), jsonHandler))
