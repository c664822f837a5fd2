import { getOriginalUrl, type Middleware, onFinished } from '@shallot/stack'

/**
 * A hand-written access log: one line per exchange, written when it is over (`onFinished`),
 * not when `next` returns, so streamed responses and client aborts are logged correctly:
 *
 *     GET /api/test 200 0.412ms
 *     GET /api/slow?ms=3000 200 - client went away after 812.004ms
 *
 * @shallot/logging will replace this layer (formats, sinks, request ids).
 */
export function accessLog(write: (line: string) => void): Middleware {
  if (typeof write !== 'function') {
    throw new TypeError('[demo/accessLog] the argument must be a function (line) => void')
  }
  return (next) =>
    function accessLog(req, res) {
      const start = process.hrtime.bigint()
      onFinished(res, (err) => {
        const ms = (Number(process.hrtime.bigint() - start) / 1e6).toFixed(3)
        const what = err === null ? `${res.statusCode} ${ms}ms` : `- client went away after ${ms}ms`
        write(`${req.method} ${getOriginalUrl(req)} ${what}`)
      })
      return next(req, res)
    }
}
