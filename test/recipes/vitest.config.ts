import { defineConfig, mergeConfig } from 'vitest/config'
import shared from '../../vitest.shared.ts'

// session-redis.md needs a Redis: test/redis.ts starts one on a free port (or uses REDIS_URL).
export default mergeConfig(shared, defineConfig({ test: { globalSetup: ['test/redis.ts'] } }))
