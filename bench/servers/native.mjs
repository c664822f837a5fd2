// Bare node:http: the baseline every other scenario is compared with.
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

serve('native', handler)
