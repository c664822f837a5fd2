// Shared by the session-* scenarios: the secret, the three measured paths, and how the harness
// gets a valid session cookie before it sends load.
//
// Every session-* server serves, the same way for both contenders:
//   GET /        no cookie sent, the session is never touched ("nothing to do")
//   GET /login   creates a session holding { counter: 0 } and answers with its Set-Cookie
//   GET /read    reads `counter` from the session the cookie names   -> x-session-count: N
//   GET /write   reads and increments `counter` (a store write)       -> x-session-count: N
// and answers each with the common handler's body ('hello'), so only the session work differs.
// The load generator sends the cookie that `/login` gave (see sessionCookie below) with every
// `/read` and `/write` request; `/` is sent without a cookie.
import http from 'node:http'

export const SESSION_SECRET = 'bench-secret-bench-secret-bench-secret-0123'

/**
 * Asks a running session-* server for a fresh session and returns its `name=value` cookie,
 * ready to be sent as the `Cookie` header of `/read` and `/write`.
 *
 * @param {number} port
 * @returns {Promise<string>}
 */
export function sessionCookie(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/login', agent: false }, (res) => {
        res.resume()
        const line = res.headers['set-cookie']?.[0]
        if (res.statusCode !== 200 || line === undefined) {
          reject(new Error(`GET /login answered ${res.statusCode} without a Set-Cookie`))
          return
        }
        resolve(line.split(';')[0])
      })
      .on('error', reject)
  })
}

/** The request of each measured path, given the cookie from sessionCookie(). */
export const sessionRequests = (cookie) => ({
  none: { method: 'GET', path: '/' },
  read: { method: 'GET', path: '/read', headers: { cookie } },
  write: { method: 'GET', path: '/write', headers: { cookie } },
})
