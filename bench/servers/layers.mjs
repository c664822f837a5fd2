/**
 * A layer that does nothing but call the next handler: the cheapest possible middleware,
 * so a stack of them measures the cost of the stack itself.
 *
 * @param {import('@shallot/stack').Handler} next
 * @returns {import('@shallot/stack').Handler}
 */
export const noop = (next) => (req, res) => next(req, res)

/**
 * @typedef {(res: import('node:http').ServerResponse, listener: () => void) => unknown} OnHeaders
 * @typedef {(res: import('node:http').ServerResponse, listener: () => void) => unknown} OnFinished
 */

/**
 * Builds the layer of the hooks scenarios with the given `onHeaders`/`onFinished`
 * implementations, so that both contenders run the very same code around them: per request
 * one head listener (sets a header) and one completion listener (counts the exchange).
 *
 * The header carries how many exchanges had finished before this head was written, so the
 * harness's sanity check can see that both listeners really fire.
 *
 * @param {OnHeaders} onHeaders
 * @param {OnFinished} onFinished
 * @returns {import('@shallot/stack').Middleware}
 */
export function hooksLayer(onHeaders, onFinished) {
  let finished = 0
  return (next) => (req, res) => {
    onHeaders(res, () => {
      res.setHeader('x-finished-before', String(finished))
    })
    onFinished(res, () => {
      finished++
    })
    return next(req, res)
  }
}
