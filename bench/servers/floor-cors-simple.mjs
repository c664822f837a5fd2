// The floor of a CORS layer on the simple request: bare node:http that sends by hand the three
// headers @shallot/cors and `cors` send (allowed origin, credentials, Vary), after one string
// comparison of the Origin. No options, no hook, no merging with the app's Vary: what any
// implementation of this answer pays at least, to read the cost of the layers against it.
import { handler } from './handler.mjs'
import { CORS_ORIGIN } from './requests.mjs'
import { serve } from './serve.mjs'

serve('floor-cors-simple', (req, res) => {
  const origin = req.headers.origin
  if (origin === CORS_ORIGIN) {
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('access-control-allow-credentials', 'true')
    res.setHeader('vary', 'Origin')
  }
  handler(req, res)
})
