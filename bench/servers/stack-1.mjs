// stack() with one no-op layer: the fixed cost of the outermost stack (boundary, canonical path).
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { noop } from './layers.mjs'
import { serve } from './serve.mjs'

serve('stack-1', stack(noop)(handler))
