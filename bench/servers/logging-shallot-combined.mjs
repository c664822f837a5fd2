// @shallot/logging: the combined format (morgan's) to a file, the same output as
// logging-morgan.mjs. Request ids are on (the default): one UUID and one header per request.
import { createWriteStream, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logging } from '@shallot/logging'
import { stack } from '@shallot/stack'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-logging-shallot-combined-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))

const log = logging({ format: 'combined', sink: createWriteStream(file) })
serve('logging-shallot-combined', stack(log)(handler))
