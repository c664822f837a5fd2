// serverTiming() and ten no-op layers, without per-layer tracing: the baseline of trace-on.
import { stack } from '@shallot/stack'
import { serverTiming } from '@shallot/timing'
import { handler } from './handler.mjs'
import { noop } from './layers.mjs'
import { serve } from './serve.mjs'

serve('trace-off', stack(serverTiming(), ...Array.from({ length: 10 }, () => noop))(handler))
