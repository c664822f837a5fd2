import { defineConfig } from 'vitest/config'

/** Shared by every workspace package: bounded, parallel-safe, and a JSON report for the summary line. */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    teardownTimeout: 10_000,
    pool: 'forks',
    reporters: ['default', ['json', { outputFile: '.vitest/results.json' }]],
  },
})
