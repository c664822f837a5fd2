// The same stack as trace-off.mjs with `trace: traceLayers()`: every layer in Server-Timing.
import { stack } from '@shallot/stack'
import { serverTiming, traceLayers } from '@shallot/timing'
import { handler } from './handler.mjs'
import { noop } from './layers.mjs'
import { serve } from './serve.mjs'

const layers = Array.from({ length: 10 }, () => noop)
serve('trace-on', stack({ trace: traceLayers() }, serverTiming(), ...layers)(handler))
