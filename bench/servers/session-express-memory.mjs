// express-session with its MemoryStore, on bare node:http: the peer of session-shallot-memory.
// express-session warns that its MemoryStore is not for production; the warning is left as is.
// Paths and the way to get a cookie: session-common.mjs (GET /login returns the Set-Cookie).
import expressSession from 'express-session'
import { onBare } from './connect.mjs'
import { serve } from './serve.mjs'
import { SESSION_SECRET } from './session-common.mjs'
import { expressSessionApp, expressSessionOptions } from './session-express.mjs'

serve(
  'session-express-memory',
  onBare(
    expressSession({
      secret: SESSION_SECRET,
      store: new expressSession.MemoryStore(),
      ...expressSessionOptions,
    }),
    expressSessionApp
  )
)
