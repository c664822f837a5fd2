// stack() with ten no-op layers: the goal is >= 97% of bare node:http.
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { noop } from './layers.mjs'
import { serve } from './serve.mjs'

const layers = Array.from({ length: 10 }, () => noop)
serve('stack-10', stack(...layers)(handler))
