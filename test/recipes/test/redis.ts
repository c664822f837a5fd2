/**
 * A vitest globalSetup for recipes that need Redis (docs/recipes/session-redis.md): starts a
 * throwaway redis-server on a free port before the test files run, sets REDIS_URL for them
 * (the forks inherit the environment), and stops it afterwards. A REDIS_URL already set (a CI
 * service) is used as is. Wired in vitest.config.ts.
 */
import { RedisServer } from '@shallot/test-utils'

let server: RedisServer | undefined

export async function setup(): Promise<void> {
  if (process.env.REDIS_URL !== undefined) return
  server = await RedisServer.start()
  process.env.REDIS_URL = server.url
}

export async function teardown(): Promise<void> {
  await server?.stop()
}
