// express-basic-auth on bare node:http (the pass path needs no Express API): the peer of `basic`.
import basicAuth from 'express-basic-auth'
import { onBare } from './connect.mjs'
import { handler } from './handler.mjs'
import { BASIC_PASSWORD, BASIC_USER } from './requests.mjs'
import { serve } from './serve.mjs'

serve(
  'basic-express-basic-auth',
  onBare(basicAuth({ users: { [BASIC_USER]: BASIC_PASSWORD }, challenge: true }), handler)
)
