// pinojs/pino-http on bare node:http, JSON lines to a file through pino.destination
// (sonic-boom, asynchronous writes): the peer of logging-shallot-json.mjs.
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import pinoHttp from 'pino-http'
import { onBare } from './connect.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-logging-pino-http-${process.pid}.log`)
const destination = pino.destination({ dest: file, sync: false })
process.on('exit', () => {
  try {
    destination.flushSync()
  } catch {
    // not open yet: nothing to flush
  }
  rmSync(file, { force: true })
})

const logger = pino(destination)
serve('logging-pino-http', onBare(pinoHttp({ logger }), handler))
