// The floor of an access log in the combined format: bare node:http that listens for the
// response's 'finish', builds the line with one template (the date formatted once per second,
// the client's fields checked for characters to escape with one test each) and appends it to
// a string written to a file in batches (10 ms or 64 KiB, one write in flight), as
// @shallot/logging's stream sink does (floor-common.mjs). No request id, no error reporting,
// no redaction, no backpressure accounting, no options: what any such logger pays at least.
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { combinedLog } from './floor-common.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-floor-logging-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))
const log = combinedLog(file)

function onFinish() {
  log(this)
}

serve('floor-logging', (req, res) => {
  res.once('finish', onFinish)
  handler(req, res)
})
