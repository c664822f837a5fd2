// The express-session side of the session-* scenarios (see session-common.mjs for the paths).
import { handler } from './handler.mjs'

/**
 * The application behind express-session, doing the same as session-shallot.mjs's.
 *
 * @param {import('node:http').IncomingMessage & { session?: Record<string, unknown> }} req
 * @param {import('node:http').ServerResponse} res
 */
export function expressSessionApp(req, res) {
  const url = req.url
  const session = /** @type {Record<string, unknown>} */ (req.session)
  if (url === '/login') {
    session.counter = 0
  } else if (url === '/read') {
    res.setHeader('x-session-count', String(session.counter))
  } else if (url === '/write') {
    const n = /** @type {number} */ (session.counter ?? 0) + 1
    session.counter = n
    res.setHeader('x-session-count', String(n))
  }
  handler(req, res)
}

/** express-session's recommended settings (its own defaults for both are deprecated). */
export const expressSessionOptions = { resave: false, saveUninitialized: false }
