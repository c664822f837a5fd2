// @shallot/auth basic: valid credentials, the same user as basic-express-basic-auth.mjs.
// `cacheControl: false` so that both send the same headers (express-basic-auth adds none).
import { basic } from '@shallot/auth'
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { BASIC_PASSWORD, BASIC_USER } from './requests.mjs'
import { serve } from './serve.mjs'

serve(
  'basic-shallot',
  stack(basic({ users: { [BASIC_USER]: BASIC_PASSWORD }, realm: 'bench', cacheControl: false }))(
    handler
  )
)
