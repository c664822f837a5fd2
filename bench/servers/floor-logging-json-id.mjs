// The floor of the `json` access log issue 4 asks for: on `finish`, one template builds the
// JSON line of @shallot/logging's `json` format (time, method, url, status, body bytes,
// duration, client, user agent, referrer, request id), batched to a file by hand
// (floor-common.mjs); a request id, `crypto.randomUUID()`, is sent as `X-Request-Id`. Body
// bytes are counted the cheapest correct way: `ServerResponse.prototype.end` wrapped once.
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jsonLog } from './floor-common.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-floor-logging-json-id-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))
const log = jsonLog(file)

const end = ServerResponse.prototype.end
ServerResponse.prototype.end = function (chunk, encoding, cb) {
  if (typeof chunk === 'string') this.bodyBytes += Buffer.byteLength(chunk)
  else if (chunk instanceof Uint8Array) this.bodyBytes += chunk.byteLength
  return end.call(this, chunk, encoding, cb)
}

function onFinish() {
  log(this, this.start, this.bodyBytes, this.id)
}

serve('floor-logging-json-id', (req, res) => {
  res.start = performance.now()
  res.bodyBytes = 0
  res.id = randomUUID()
  res.setHeader('x-request-id', res.id)
  res.once('finish', onFinish)
  handler(req, res)
})
