// The same layer as hooks-shallot.mjs, with jshttp's on-headers and on-finished packages.
import { stack } from '@shallot/stack'
import onFinished from 'on-finished'
import onHeaders from 'on-headers'
import { handler } from './handler.mjs'
import { hooksLayer } from './layers.mjs'
import { serve } from './serve.mjs'

serve('hooks-jshttp', stack(hooksLayer(onHeaders, onFinished))(handler))
