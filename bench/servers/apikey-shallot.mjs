// @shallot/auth apiKey: a request carrying a valid X-API-Key.
import { apiKey } from '@shallot/auth'
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { API_KEY } from './requests.mjs'
import { serve } from './serve.mjs'

serve('apikey-shallot', stack(apiKey({ keys: { [API_KEY]: 'bench' } }))(handler))
