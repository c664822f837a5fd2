// The @shallot/session side of the session-* scenarios (see session-common.mjs for the paths).
import { getSession } from '@shallot/session'
import { handler } from './handler.mjs'

/**
 * The application behind `session()`: `/` does not touch the session, `/login` creates one,
 * `/read` reads the counter, `/write` increments it.
 *
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
export function sessionApp(req, res) {
  const url = req.url
  if (url === '/login') {
    getSession(req).set('counter', 0)
  } else if (url === '/read') {
    res.setHeader('x-session-count', String(getSession(req).get('counter')))
  } else if (url === '/write') {
    const s = getSession(req)
    const n = /** @type {number} */ (s.get('counter') ?? 0) + 1
    s.set('counter', n)
    res.setHeader('x-session-count', String(n))
  }
  handler(req, res)
}
