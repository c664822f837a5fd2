// @shallot/timing responseTime(): X-Response-Time with the same defaults as `response-time`.
import { stack } from '@shallot/stack'
import { responseTime } from '@shallot/timing'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

serve('timing-shallot', stack(responseTime())(handler))
