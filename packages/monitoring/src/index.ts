/**
 * @shallot/monitoring: __one sentence__.
 *
 * @module
 */
import type { Middleware } from '@shallot/stack'

/** Options of {@link monitoring}. */
export interface MonitoringOptions {
  /**
   * __What it does, in one or two sentences. Link the spec where there is one.__
   *
   * @default 'x'
   */
  example?: string
}

/**
 * __What the layer does.__
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/monitoring#readme
 * @example
 * ```ts
 * const app = stack(monitoring({ example: 'x' }))(handler)
 * ```
 */
export function monitoring(options: MonitoringOptions = {}): Middleware {
  // Validate, default and precompute once, at start-up; name the option in every error.
  const example = options.example ?? 'x'
  if (typeof example !== 'string') {
    throw new TypeError(
      `[@shallot/monitoring] option "example" must be a string, got ${typeof example}`
    )
  }
  return (next) =>
    function monitoring(req, res) {
      // Per-request work only. Headers that must survive errors go in onHeaders.
      return next(req, res)
    }
}
