// @shallot/cors: an allowlist with credentials, the same configuration as cors-expressjs.mjs.
import { cors } from '@shallot/cors'
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { CORS_ORIGIN } from './requests.mjs'
import { serve } from './serve.mjs'

serve('cors-shallot', stack(cors({ origin: [CORS_ORIGIN], credentials: true }))(handler))
