// @shallot/logging: JSON lines to a file (request ids on, the default), the structured
// counterpart of logging-pino-http.mjs.
import { createWriteStream, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logging } from '@shallot/logging'
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-logging-shallot-json-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))

const log = logging({ format: 'json', sink: createWriteStream(file) })
serve('logging-shallot-json', stack(log)(handler))
