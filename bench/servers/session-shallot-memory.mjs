// @shallot/session with its MemoryStore. Paths and the way to get a cookie: session-common.mjs
// (GET /login returns the Set-Cookie to send with /read and /write).
import { MemoryStore, session } from '@shallot/session'
import { stack } from '@shallot/stack'
import { serve } from './serve.mjs'
import { SESSION_SECRET } from './session-common.mjs'
import { sessionApp } from './session-shallot.mjs'

serve(
  'session-shallot-memory',
  stack(session({ secret: SESSION_SECRET, store: new MemoryStore() }))(sessionApp)
)
