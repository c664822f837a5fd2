// The compression-* body served with no compression layer: the baseline of its scenarios
// (req/s and bytes on the wire without compression).
import { jsonHandler } from './compression-body.mjs'
import { serve } from './serve.mjs'

serve('compression-none', jsonHandler)
