// @shallot/session with RedisStore over node-redis; Redis at $REDIS_URL (default
// redis://127.0.0.1:6379). Paths and the way to get a cookie: session-common.mjs.
import { RedisStore, session } from '@shallot/session'
import { stack } from '@shallot/stack'
import { createClient } from 'redis'
import { serve } from './serve.mjs'
import { SESSION_SECRET } from './session-common.mjs'
import { sessionApp } from './session-shallot.mjs'

// the same client options as session-express-redis.mjs
const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
client.on('error', (err) => console.error('[bench] redis:', err.message))
await client.connect()

serve(
  'session-shallot-redis',
  stack(session({ secret: SESSION_SECRET, store: new RedisStore({ client }) }))(sessionApp)
)
