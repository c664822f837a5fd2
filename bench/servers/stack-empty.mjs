// stack() with no layers around the handler.
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

serve('stack-empty', stack()(handler))
