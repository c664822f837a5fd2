// The floor of what issue 4 asks of an access log: floor-logging.mjs (a `combined` line on
// `finish`, batched to a file by hand) plus a request id, `crypto.randomUUID()`, sent as
// `X-Request-Id`. Still no option, no hook, no error reporting, no redaction.
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { combinedLog } from './floor-common.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-floor-logging-id-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))
const log = combinedLog(file)

function onFinish() {
  log(this)
}

serve('floor-logging-id', (req, res) => {
  res.setHeader('x-request-id', randomUUID())
  res.once('finish', onFinish)
  handler(req, res)
})
