// @shallot/compression with its defaults, serving the compression-* body; the client asks
// for gzip (see gzipRequest in compression-body.mjs).
import { compression } from '@shallot/compression'
import { stack } from '@shallot/stack'
import { jsonHandler } from './compression-body.mjs'
import { serve } from './serve.mjs'

serve('compression-shallot', stack(compression())(jsonHandler))
