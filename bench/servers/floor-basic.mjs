// The floor of a Basic check done safely: bare node:http that decodes the credentials, hashes
// the user and the password (one-shot SHA-256 each, as @shallot/auth does) and compares both
// without early exit, then sends `Vary: Authorization` as @shallot/auth's basic does (its
// scenario turns `Cache-Control: private` off). No options, no principal, no hook.
import { hash } from 'node:crypto'
import { handler } from './handler.mjs'
import { BASIC_PASSWORD, BASIC_USER } from './requests.mjs'
import { serve } from './serve.mjs'

const user = hash('sha256', BASIC_USER, 'binary')
const password = hash('sha256', BASIC_PASSWORD, 'binary')

serve('floor-basic', (req, res) => {
  const h = req.headers.authorization
  let diff = 1
  if (typeof h === 'string' && h.startsWith('Basic ')) {
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0) {
      const u = hash('sha256', decoded.slice(0, colon), 'binary')
      const p = hash('sha256', decoded.slice(colon + 1), 'binary')
      diff = 0
      for (let i = 0; i < 32; i++) {
        diff |= (u.charCodeAt(i) ^ user.charCodeAt(i)) | (p.charCodeAt(i) ^ password.charCodeAt(i))
      }
    }
  }
  if (diff !== 0) {
    res.statusCode = 401
    res.end()
    return
  }
  res.setHeader('vary', 'Authorization')
  handler(req, res)
})
