// express-session with connect-redis 9 over node-redis, on bare node:http: the peer of
// session-shallot-redis. Redis at $REDIS_URL (default redis://127.0.0.1:6379).
// Paths and the way to get a cookie: session-common.mjs.
import { RedisStore } from 'connect-redis'
import expressSession from 'express-session'
import { createClient } from 'redis'
import { onBare } from './connect.mjs'
import { serve } from './serve.mjs'
import { SESSION_SECRET } from './session-common.mjs'
import { expressSessionApp, expressSessionOptions } from './session-express.mjs'

// the same client options as session-shallot-redis.mjs
const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
client.on('error', (err) => console.error('[bench] redis:', err.message))
await client.connect()

serve(
  'session-express-redis',
  onBare(
    expressSession({
      secret: SESSION_SECRET,
      store: new RedisStore({ client, prefix: 'bench-express:' }),
      ...expressSessionOptions,
    }),
    expressSessionApp
  )
)
