// expressjs/cors on bare node:http: the peer of the cors-* scenarios.
import cors from 'cors'
import { onBare } from './connect.mjs'
import { handler } from './handler.mjs'
import { CORS_ORIGIN } from './requests.mjs'
import { serve } from './serve.mjs'

serve('cors-expressjs', onBare(cors({ origin: [CORS_ORIGIN], credentials: true }), handler))
