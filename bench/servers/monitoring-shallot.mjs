// @shallot/monitoring with its defaults: method and status_code labels (no route), the
// duration, time-to-first-byte and response size histograms, default process metrics, and
// /metrics served by the layer. The peer is monitoring-express-prom-bundle.mjs.
import { monitoring } from '@shallot/monitoring'
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

serve('monitoring-shallot', stack(monitoring())(handler))
