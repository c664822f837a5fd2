// One layer in a stack registering one onHeaders and one onFinished listener per request,
// with @shallot/stack's own hooks.
import { onFinished, onHeaders, stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { hooksLayer } from './layers.mjs'
import { serve } from './serve.mjs'

serve('hooks-shallot', stack(hooksLayer(onHeaders, onFinished))(handler))
