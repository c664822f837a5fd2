/**
 * Mounts a Connect/Express-style middleware `(req, res, next)` directly on bare node:http in
 * front of `handler`: how the peers' middleware runs without a framework, so that only the
 * middleware itself is measured.
 *
 * @param {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: (err?: unknown) => void) => void} middleware
 * @param {import('node:http').RequestListener} handler
 * @returns {import('node:http').RequestListener}
 */
export function onBare(middleware, handler) {
  return (req, res) => {
    middleware(req, res, (err) => {
      if (err) {
        res.statusCode = 500
        res.end()
        return
      }
      handler(req, res)
    })
  }
}
