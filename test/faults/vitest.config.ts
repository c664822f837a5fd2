import { defineConfig, mergeConfig } from 'vitest/config'
import shared from '../../vitest.shared.ts'

/**
 * The shared settings, plus: `--expose-gc` in the test processes (heap is measured after
 * `gc()`), one file at a time (each file measures its own descriptors, sockets and heap, and
 * the machine is small), and longer bounds for the load these files put on the stack.
 */
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      execArgv: ['--expose-gc'],
      fileParallelism: false,
      testTimeout: 120_000,
      hookTimeout: 30_000,
    },
  })
)
