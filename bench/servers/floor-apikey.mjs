// The floor of an API-key check done safely: bare node:http that hashes the presented key
// (one-shot SHA-256, as @shallot/auth does) and compares it with the configured key's digest
// without early exit, then sends the two headers @shallot/auth's apiKey sends on success
// (`Cache-Control: private`, `Vary: x-api-key`). No options, no principal, no hook.
import { hash } from 'node:crypto'
import { handler } from './handler.mjs'
import { API_KEY } from './requests.mjs'
import { serve } from './serve.mjs'

const expected = hash('sha256', API_KEY, 'binary')

serve('floor-apikey', (req, res) => {
  const key = req.headers['x-api-key']
  const got = typeof key === 'string' ? hash('sha256', key, 'binary') : ''
  let diff = got.length ^ 32
  for (let i = 0; i < 32; i++) diff |= got.charCodeAt(i) ^ expected.charCodeAt(i)
  if (diff !== 0) {
    res.statusCode = 401
    res.end()
    return
  }
  res.setHeader('cache-control', 'private')
  res.setHeader('vary', 'x-api-key')
  handler(req, res)
})
