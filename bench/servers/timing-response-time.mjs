// expressjs/response-time on bare node:http: the peer of `timing`.
import responseTime from 'response-time'
import { onBare } from './connect.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

serve('timing-response-time', onBare(responseTime(), handler))
