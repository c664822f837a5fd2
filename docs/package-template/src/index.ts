/**
 * @shallot/__name__: __one sentence__.
 *
 * @module
 */
import type { Middleware } from '@shallot/stack'

/** Options of {@link __name__}. */
export interface __Name__Options {
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
 * @see https://github.com/shallot-js/shallot/tree/main/packages/__name__#readme
 * @example
 * ```ts
 * const app = stack(__name__({ example: 'x' }))(handler)
 * ```
 */
export function __name__(options: __Name__Options = {}): Middleware {
  // Validate, default and precompute once, at start-up; name the option in every error.
  const example = options.example ?? 'x'
  if (typeof example !== 'string') {
    throw new TypeError(
      `[@shallot/__name__] option "example" must be a string, got ${typeof example}`
    )
  }
  return (next) =>
    function __name__(req, res) {
      // Per-request work only. Headers that must survive errors go in onHeaders.
      return next(req, res)
    }
}
